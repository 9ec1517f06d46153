// The weight-only quantized linear for a few rows of x (decode, small batches): y[m, n] = x[m, k] · Wᵀ,
// m <= 16, shaped as a memory-bound stream rather than a GEMM.
//
// The tensor-core step is weight_only_gemm.cuh's (the weight policy's fragments as the A operand of
// mma.m16n8k16, 16 output columns per warp, x as B in NB groups of 8 rows); the block is not. A block
// is CT column tiles × KS k-slices, one warp each. x is staged in chunks of KC values of k (all of k
// at once when it fits: one barrier before the main loop); within a chunk each warp takes its
// slice's contiguous steps. Each warp streams its columns' words on its own, D steps of loads in
// flight and refilled B steps at a time (one burst of B·512 contiguous bytes per n-tile stream), and
// the prefetch runs across chunk boundaries, so staging the next chunk never drains the loads. The
// k-slices of a column tile meet in shared memory in slice order (deterministic) and the epilogue
// (column scale, bias, one rounding) runs once per output: no split-K partials in global memory.
//
// k is padded to whole chunks; the steps past the last real one load and compute nothing (x is
// staged as zeros there). Rows past m read a staged row (NB = 1: row m − 1; NB = 2: zero rows);
// their outputs are never stored.
#pragma once
#include <stdint.h>

#include "../common/backend.h"
#include "launch.cuh"
#include "weight_only_gemm.cuh"

namespace tao {
namespace cuda {
namespace wo {

constexpr int kGemvMaxRows = 16;
constexpr int kGemvSmemBudget = 96 << 10;  // x chunk + group sums per block

// The launch geometry of one GEMV call: KC (k per chunk) and the chunk count.
struct GemvPlan {
  int32_t kc, chunks;
  int32_t smem;
};

// Rows of x staged per block: m for NB = 1 (rows past m read row m − 1), 16 for NB = 2.
inline int64_t gemv_rows(int64_t m) { return m <= 8 ? m : 16; }

// KC a multiple of 128·KS·D (every warp's steps of a chunk fill its load ring exactly) and the fewest
// chunks whose x (plus the policy's pad) and 8·NB rows of group sums fit kGemvSmemBudget.
template <class P>
inline GemvPlan gemv_plan(int64_t m, int64_t k, int ct, int ks, int d) {
  const int64_t unit = (int64_t)kStepK * ks * d, rows = gemv_rows(m), sum_rows = m <= 8 ? 8 : 16;
  const int64_t kp = (k + kStepK - 1) / kStepK * kStepK;
  auto bytes = [&](int64_t kc) { return rows * (kc + P::kXPadBytes / 2) * 2 + sum_rows * (kc / 32 + 1) * 4; };
  int64_t chunks = 1, kc = (kp + unit - 1) / unit * unit;
  while (bytes(kc) > kGemvSmemBudget && kc > unit) {
    ++chunks;
    kc = ((kp + chunks - 1) / chunks + unit - 1) / unit * unit;
  }
  const int64_t reduce = ks > 1 ? (int64_t)ks * ct * (m <= 8 ? 1 : 2) * 4 * 32 * 4 : 0;
  const int64_t smem = bytes(kc) > reduce ? bytes(kc) : reduce;
  return GemvPlan{(int32_t)kc, (int32_t)((kp + kc - 1) / kc), (int32_t)smem};
}

template <class P, class A, int NB, int CT, int KS, int D, int B, int MinBlocks = 1>
__global__ void __launch_bounds__(CT * KS * 32, MinBlocks) weight_only_gemv_kernel(const typename P::Args a, const Shape s, const GemvPlan plan) {
  static_assert(D % B == 0, "loads are refilled B steps at a time");
  constexpr int kThreadsG = CT * KS * 32, kSumRows = 8 * NB;
  extern __shared__ __align__(16) uint16_t xs[];
  const int kc = plan.kc, per = kc / kStepK / KS;  // a warp's steps per chunk: a multiple of D
  const int rows = NB == 1 ? (int)s.m : 16;
  const int stride = kc + P::kXPadBytes / 2, xsum_stride = kc / 32 + 1;
  float* xsum = (float*)(xs + rows * stride);
  const int sum_shift = P::sum_shift(a);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, ct = warp % CT, ks = warp / CT;
  const int64_t col0 = ((int64_t)blockIdx.x * CT + ct) * 16;
  const bool active = col0 < s.n;
  const int real_steps = (int)((s.k + kStepK - 1) / kStepK), spc = kc / kStepK;  // steps per chunk
  const typename P::Cursor cur = P::cursor(a, active ? col0 : 0, 0, lane);

  // The warp's steps of chunk c are c·spc + ks·per + i, i < per; the ring holds steps i..i+D−1 of
  // the current chunk, those past its end being the next chunk's first ones.
  typename P::Raw raw[D];
#pragma unroll
  for (int d = 0; d < D; ++d)
    if (active && ks * per + d < real_steps) P::load(a, cur, ks * per + d, raw[d]);
  // Rows past m: zero group sums (and zero x rows for NB = 2), never restaged.
  for (int i = threadIdx.x; i < (kSumRows - (int)s.m) * xsum_stride; i += kThreadsG) xsum[s.m * xsum_stride + i] = 0.0f;
  if (NB == 2)
    for (int i = threadIdx.x; i < (16 - (int)s.m) * stride; i += kThreadsG) xs[s.m * stride + i] = 0;

  float acc[NB][4] = {};
  const uint16_t* xrow = xs + (NB == 1 ? min(lane / 4, (int)s.m - 1) : lane / 4) * stride + ks * per * kStepK;
  const float* xsum_slice = xsum + ((ks * per * kStepK) >> max(sum_shift, 5));
  for (int c = 0; c < plan.chunks; ++c) {
    if (c > 0) __syncthreads();  // every warp is done with chunk c − 1
    stage_x<P, A, NB, kThreadsG>(s, 0, (int64_t)c * kc, kc, xs, stride, xsum, xsum_stride, sum_shift);
    __syncthreads();
    if (!active) continue;
    const int base = c * spc + ks * per;
    const bool next_chunk = c + 1 < plan.chunks;
    for (int i = 0; i < per; i += D) {
#pragma unroll
      for (int d = 0; d < D; ++d) {
        if (base + i + d < real_steps)
          P::template step<A, NB>(a, raw[d], xrow + (i + d) * kStepK, stride, xsum_slice + (((i + d) * kStepK) >> max(sum_shift, 5)),
                                  xsum_stride, lane, acc);
        if (d % B != B - 1) continue;
#pragma unroll
        for (int e = d - B + 1; e <= d; ++e) {
          const int ni = i + e + D, next = ni < per ? base + ni : base + spc + ni - per;
          if ((ni < per || next_chunk) && next < real_steps) P::load(a, cur, next, raw[e]);
        }
      }
    }
  }
  if (KS > 1) {
    // Slices meet in shared memory (x is no longer read): red[ks][ct][b][e][lane].
    float* red = (float*)xs;
    __syncthreads();
#pragma unroll
    for (int b = 0; b < NB; ++b)
#pragma unroll
      for (int e = 0; e < 4; ++e) red[(((ks * CT + ct) * NB + b) * 4 + e) * 32 + lane] = acc[b][e];
    __syncthreads();
    if (ks != 0) return;
#pragma unroll
    for (int b = 0; b < NB; ++b)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float v = acc[b][e];
        for (int i = 1; i < KS; ++i) v += red[(((i * CT + ct) * NB + b) * 4 + e) * 32 + lane];
        acc[b][e] = v;
      }
  }
  if (active) store_tile<P, A, NB>(a, s, col0, 0, lane, acc, 0);
}

// Launches the GEMV kernel for s.m <= kGemvMaxRows rows: CT column tiles × KS k-slices per block.
template <class P, class A, int NB, int CT, int KS, int D, int B, int MinBlocks>
tao_status launch_gemv_with(tao_ctx* ctx, const typename P::Args& a, Shape s, const char* op) {
  auto* kernel = weight_only_gemv_kernel<P, A, NB, CT, KS, D, B, MinBlocks>;
  const GemvPlan plan = gemv_plan<P>(s.m, s.k, CT, KS, D);
  if (plan.smem > kGemvSmemBudget) return fail(TAO_ERR_INTERNAL, op, "the weight-only GEMV's x chunk does not fit shared memory");
  CUDA_TRY(op, cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, plan.smem));
  s.splits = 1, s.row_blocks = 1, s.split_k = s.k, s.partial = nullptr, s.counters = nullptr;
  const uint64_t blocks = (uint64_t)((s.n + 16 * CT - 1) / (16 * CT));
  kernel<<<(unsigned)blocks, CT * KS * 32, plan.smem, stream_of(ctx)>>>(a, s, plan);
  return check_launch(op);
}

// One GEMV geometry written as the decimal digits of Code = CT KS D B MinBlocks (e.g. 42421): CT column
// tiles × KS k-slices per block, D steps of loads in flight refilled B at a time, MinBlocks resident
// blocks asked of the register allocator; or 0: the block kernel of weight_only_gemm.cuh instead. (One
// number, so that a build can pass it as -D through nvcc.)
template <int Code>
struct GemvConfig {
  static constexpr bool kBlockKernel = Code == 0;
  static constexpr int CT = Code / 10000 % 10, KS = Code / 1000 % 10, D = Code / 100 % 10, B = Code / 10 % 10, MinBlocks = Code % 10;
  static_assert(kBlockKernel || (CT >= 1 && KS >= 1 && B >= 1 && D % B == 0 && MinBlocks >= 1),
                "a GEMV geometry code is CT KS D B MinBlocks, or 0");
};

// A policy's GEMV geometries: for m <= 8 and m <= 16, on wide weights (n >= kGemvWideN: enough column
// tiles to fill the chip) and narrow ones (which need k-slices for warps).
template <class Wide8, class Narrow8, class Wide16, class Narrow16>
struct GemvTuning {
  using W8 = Wide8;
  using N8 = Narrow8;
  using W16 = Wide16;
  using N16 = Narrow16;
};
constexpr int64_t kGemvWideN = 16384;

template <class P, class A, int NB, class C>
tao_status launch_gemv(tao_ctx* ctx, const typename P::Args& a, const Shape& s, const char* op) {
  if constexpr (C::kBlockKernel) return launch<P, A>(ctx, a, s, op);
  else return launch_gemv_with<P, A, NB, C::CT, C::KS, C::D, C::B, C::MinBlocks>(ctx, a, s, op);
}

// The small-m weight-only launch of policy P: the GEMV (geometry from Tuning) for m <= kGemvMaxRows,
// else the block kernel of weight_only_gemm.cuh.
template <class P, class A, class Tuning>
tao_status launch_small(tao_ctx* ctx, const typename P::Args& a, const Shape& s, const char* op) {
  if (s.m > kGemvMaxRows) return launch<P, A>(ctx, a, s, op);
  TAO_TRY(use_device(ctx, op));
  const bool wide = s.n >= kGemvWideN;
  if (s.m > 8) return wide ? launch_gemv<P, A, 2, typename Tuning::W16>(ctx, a, s, op) : launch_gemv<P, A, 2, typename Tuning::N16>(ctx, a, s, op);
  return wide ? launch_gemv<P, A, 1, typename Tuning::W8>(ctx, a, s, op) : launch_gemv<P, A, 1, typename Tuning::N8>(ctx, a, s, op);
}

}  // namespace wo
}  // namespace cuda
}  // namespace tao
