// Split-K pieces shared by the weight-only GEMM kernels (weight_only_gemm.cuh, weight_wgmma_gemm.cuh):
// the launch shape, the choice of splits, and two deterministic finishes. Through global memory (any
// GPU): each block writes f32 partials, the last block to arrive at an output tile (a semaphore in
// ctx->counters, reset by that block) adds them in split order, applies the epilogue and stores y.
// Through a cluster (sm_90): a tile's splits are one thread-block cluster, and its block 0 adds the
// others' accumulators, read from their shared memory (DSMEM), in split order.
#pragma once
#include <stdint.h>

#include <utility>

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
  bool cluster_reduce;    // the splits of a tile are one cluster and add through its shared memory (cluster_sum)
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

// Runs launch() (a kernel launch with s, returning its checked status) with s.counters set and, when
// s.splits > 1, s.partial allocated from the context's pool for the launch; returns the launch's status.
template <class Launch>
tao_status launch_with_partials(tao_ctx* ctx, Shape& s, Launch&& launch) {
  s.counters = (uint32_t*)ctx->counters;
  s.partial = nullptr;
  if (s.splits > 1) TAO_TRY(alloc(ctx, (uint64_t)s.splits * s.m * s.n * sizeof(float), (void**)&s.partial));
  tao_status st = launch();
  if (s.partial) {
    const tao_status fs = release(ctx, s.partial);
    if (st == TAO_OK) st = fs;
  }
  return st;
}

// The fragment accumulators of one warp, J groups of 4 (acc[4j + e]: column 16·warp + g + 8(e / 2)
// of row 8j + 2q + e % 2 of the tile, lane 4g + q), as f32 (float, or its bits in uint32_t).
__device__ __forceinline__ float acc_value(float v) { return v; }
__device__ __forceinline__ float acc_value(uint32_t v) { return __uint_as_float(v); }
__device__ __forceinline__ void set_acc(float& d, float v) { d = v; }
__device__ __forceinline__ void set_acc(uint32_t& d, float v) { d = __float_as_uint(v); }
// Every thread of every block of the cluster: earlier shared-memory writes are visible cluster-wide.
__device__ __forceinline__ void cluster_sync() {
  asm volatile("barrier.cluster.arrive.release.aligned;\nbarrier.cluster.wait.acquire.aligned;\n" ::: "memory");
}

// sm_90, launched by launch_clusters: called by every thread of every block of a tile's cluster (one
// block per split, rank = split) after its k-range. Block 0's accumulators become the sum over the
// splits in split order (0 + 1 + ...); the others' tiles are read from their shared memory `red`
// ([8J][16·warps + 4] f32, free for the purpose; the padding keeps the lanes' rows on different
// banks). Returns false in the other blocks, which are done.
template <int J, class T>
__device__ bool cluster_sum(T (&acc)[4 * J], float* red, int warps, bool has_columns) {
  uint32_t rank, splits;
  asm("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(rank));
  asm("mov.u32 %0, %%cluster_nctarank;\n" : "=r"(splits));
  const int warp = threadIdx.x / 32, g = threadIdx.x % 32 / 4, q = threadIdx.x % 4, pitch = 16 * warps + 4;
  auto at = [&](int j, int e) { return (8 * j + 2 * q + e % 2) * pitch + 16 * warp + g + 8 * (e / 2); };
  __syncthreads();  // red's previous contents are no longer read
  if (rank > 0 && has_columns)
#pragma unroll
    for (int j = 0; j < J; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) red[at(j, e)] = acc_value(acc[4 * j + e]);
  cluster_sync();  // every tile is written
  if (rank == 0 && has_columns) {
    const uint32_t base = (uint32_t)__cvta_generic_to_shared(red);
    for (uint32_t r = 1; r < splits; ++r) {
      uint32_t other;
      asm("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(other) : "r"(base), "r"(r));
#pragma unroll
      for (int j = 0; j < J; ++j) {
        float v[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) asm volatile("ld.shared::cluster.f32 %0, [%1];\n" : "=f"(v[e]) : "r"(other + 4u * (uint32_t)at(j, e)));
#pragma unroll
        for (int e = 0; e < 4; ++e) set_acc(acc[4 * j + e], acc_value(acc[4 * j + e]) + v[e]);
      }
    }
  }
  cluster_sync();  // block 0 has read every tile: the others may exit
  return rank == 0;
}

// The most splits a cluster finish takes: the portable cluster size.
constexpr int kMaxClusterSplits = 8;

// Launches kernel(args...) on `blocks` blocks of `threads` with `smem` bytes of dynamic shared memory
// in clusters of s.splits blocks where s.cluster_reduce (a tile's splits, for cluster_sum), else of one
// block; returns the launch's status.
template <class... Params, class... Args>
tao_status launch_clusters(tao_ctx* ctx, const Shape& s, uint64_t blocks, int threads, int smem, const char* op, void (*kernel)(Params...),
                           Args&&... args) {
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3((unsigned)blocks);
  config.blockDim = dim3((unsigned)threads);
  config.dynamicSmemBytes = (size_t)smem;
  config.stream = stream_of(ctx);
  cudaLaunchAttribute cluster;
  cluster.id = cudaLaunchAttributeClusterDimension;
  cluster.val.clusterDim.x = s.cluster_reduce ? (unsigned)s.splits : 1u, cluster.val.clusterDim.y = 1, cluster.val.clusterDim.z = 1;
  config.attrs = &cluster;
  config.numAttrs = 1;
  CUDA_TRY(op, cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...));
  return check_launch(op);
}

// Clusters of `size` blocks of kernel (`threads`, `smem` bytes) that the GPU runs at once, into *count
// (the SMs of a cluster share a GPC, so on an H100 this is less than 132 / size one-block-an-SM clusters).
template <class... Params>
tao_status active_clusters(void (*kernel)(Params...), int size, int threads, int smem, const char* op, int* count) {
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3((unsigned)size);
  config.blockDim = dim3((unsigned)threads);
  config.dynamicSmemBytes = (size_t)smem;
  cudaLaunchAttribute cluster;
  cluster.id = cudaLaunchAttributeClusterDimension;
  cluster.val.clusterDim.x = (unsigned)size, cluster.val.clusterDim.y = 1, cluster.val.clusterDim.z = 1;
  config.attrs = &cluster;
  config.numAttrs = 1;
  CUDA_TRY(op, cudaOccupancyMaxActiveClusters(count, (const void*)kernel, &config));
  return TAO_OK;
}

}  // namespace wo
}  // namespace cuda
}  // namespace tao
