// Split-K pieces shared by the weight-only GEMM kernels (weight_only_gemm.cuh, weight_wgmma_gemm.cuh):
// the launch shape, the choice of splits, and the deterministic finish — each block writes f32
// partials, the last block to arrive at an output tile (a semaphore in ctx->counters, reset by that
// block) adds them in split order, applies the epilogue and stores y.
#pragma once
#include <stdint.h>

#include "launch.cuh"
#include "mma.cuh"

namespace tao {
namespace cuda {
namespace wo {

// What every weight-only launch needs besides the weight policy's arguments.
struct Shape {
  int64_t m, n, k;
  int64_t split_k;   // k per split (a multiple of the kernel's k step)
  int32_t splits, row_blocks;
  const void* x;     // dtype [m, k]
  const void* bias;  // dtype [n] or NULL
  void* y;           // dtype [m, n]
  float* partial;    // f32 [splits][m][n] when splits > 1
  uint32_t* counters;
  const uint16_t* xp;     // the block kernel's x prepared once (weight_only_gemm.cuh), rows of xp_ld
  const float* xp_sums;   // its Σx per 2^sum_shift values, rows of xp_sums_ld
  int64_t xp_ld, xp_sums_ld;
};

// Sets s.split_k / s.splits for `tiles` output tiles, `steps` k-steps of `step_k` and `slots`
// resident blocks: the splits minimizing (waves of the grid) × (steps per block + a block's fixed
// cost of about two steps), the fewest among equals (fewer partials); no split past `max_tiles`.
inline void choose_split(Shape& s, int64_t tiles, int64_t slots, int64_t steps, int64_t step_k, int64_t max_tiles) {
  s.split_k = steps * step_k;
  s.splits = 1;
  if (tiles > max_tiles) return;
  int64_t best = -1;
  for (int64_t sp = 1; sp <= steps && sp <= 64; ++sp) {
    const int64_t per = (steps + sp - 1) / sp, used = (steps + per - 1) / per;
    const int64_t cost = ((tiles * used + slots - 1) / slots) * (per + 2);
    if (best < 0 || cost < best) best = cost, s.split_k = per * step_k, s.splits = (int32_t)used;
  }
}

// Called by every thread of a block after it stored its partials: true in the last block of the
// tile's splits to arrive (which then owns the reduction and resets the semaphore).
__device__ __forceinline__ bool arrive_last(uint32_t* counter, int splits) {
  __shared__ bool last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) last = atomicAdd(counter, 1u) == (uint32_t)splits - 1;
  __syncthreads();
  if (last) __threadfence();
  return last;
}

// The last block of an output tile (Rows × Cols from (r0, c0)), Threads threads:
// y = Σ_splits partial (in split order) · scale + bias, rounded once. Each thread loads a batch of
// kBatch elements × kSplits splits before it adds any, so the tail costs a few L2 round trips per
// thread instead of one per element (elements a thread owns are Threads apart: warps read rows).
template <class P, class A, int Rows, int Cols, int Threads>
__device__ void reduce_tile(const typename P::Args& a, const Shape& s, int64_t c0, int64_t r0) {
  constexpr int kBatch = 8, kSplits = 4;
  for (int i0 = threadIdx.x; i0 < Rows * Cols; i0 += Threads * kBatch) {
    int64_t at[kBatch];  // offset of the element in one split's [m][n] partial, -1 past the tile
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      const int i = i0 + b * Threads;
      const int64_t row = r0 + i / Cols, col = c0 + i % Cols;
      at[b] = i < Rows * Cols && row < s.m && col < s.n ? row * s.n + col : -1;
    }
    float v[kBatch] = {};
    for (int s0 = 0; s0 < s.splits; s0 += kSplits) {
      float p[kSplits][kBatch];
#pragma unroll
      for (int j = 0; j < kSplits; ++j)
#pragma unroll
        for (int b = 0; b < kBatch; ++b)
          p[j][b] = s0 + j < s.splits && at[b] >= 0 ? __ldcg(s.partial + (int64_t)(s0 + j) * s.m * s.n + at[b]) : 0.0f;
#pragma unroll
      for (int j = 0; j < kSplits; ++j)
#pragma unroll
        for (int b = 0; b < kBatch; ++b) v[b] += p[j][b];  // zeros past the last split: exact
    }
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      if (at[b] < 0) continue;
      const int64_t col = at[b] % s.n;
      float y = v[b] * P::col_scale(a, col);
      if (s.bias) y += A::to_f32(((const uint16_t*)s.bias)[col]);
      ((uint16_t*)s.y)[at[b]] = A::from_f32(y);
    }
  }
}

// Runs launch() (a kernel launch with s) with s.counters set and, when s.splits > 1, s.partial
// allocated from the context's pool for the launch; returns the launch's status.
template <class Launch>
tao_status launch_with_partials(tao_ctx* ctx, Shape& s, const char* op, Launch&& launch) {
  s.counters = (uint32_t*)ctx->counters;
  s.partial = nullptr;
  if (s.splits > 1) TAO_TRY(alloc(ctx, (uint64_t)s.splits * s.m * s.n * sizeof(float), (void**)&s.partial));
  launch();
  tao_status st = check_launch(op);
  if (s.partial) {
    const tao_status fs = release(ctx, s.partial);
    if (st == TAO_OK) st = fs;
  }
  return st;
}

}  // namespace wo
}  // namespace cuda
}  // namespace tao
