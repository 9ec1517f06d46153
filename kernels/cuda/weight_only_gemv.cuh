// The weight-only quantized linear for a few rows of x (decode): y[m, n] = x[m, k] · Wᵀ, m <= 8,
// shaped as a memory-bound stream rather than a GEMM.
//
// The tensor-core step is weight_only_gemm.cuh's (the weight policy's fragments as the A operand of
// mma.m16n8k16, 16 output columns per warp, the 8 rows of x as B); the block is not. A block is CT
// column tiles × KS k-slices, one warp each. x is staged in chunks of KC values of k (all of k at
// once when it fits: one barrier before the main loop); within a chunk each warp takes its slice's
// contiguous steps. Each warp streams its columns' words on its own, D steps of loads in flight and
// refilled B steps at a time (one burst of B·512 contiguous bytes per n-tile stream), and the
// prefetch runs across chunk boundaries, so staging the next chunk never drains the loads. The
// k-slices of a column tile meet in shared memory in slice order (deterministic) and the epilogue
// (column scale, bias, one rounding) runs once per output: no split-K partials in global memory.
//
// k is padded to whole chunks; the steps past the last real one load and compute nothing (x is
// staged as zeros there). Rows past m read row m − 1 of the staged x; their outputs are never stored.
//
// Measured against the block kernel (bench/native/gemv_probe.cu, bench/NOTES.md): faster on small
// weights, slower on the large streaming ones; the callers' geometry codes say which serves what.
#pragma once
#include <stdint.h>

#include "../common/backend.h"
#include "launch.cuh"
#include "weight_only_gemm.cuh"

namespace tao {
namespace cuda {
namespace wo {

constexpr int kGemvMaxRows = 8;
constexpr int kGemvSmemBudget = 96 << 10;  // x chunk + group sums per block

// The launch geometry of one GEMV call: KC (k per chunk), the chunk count and the shared bytes.
struct GemvPlan {
  int32_t kc, chunks;
  int32_t smem;
};

// KC a multiple of 128·KS·D (every warp's steps of a chunk fill its load ring exactly) and the fewest
// chunks whose m rows of x (plus the policy's pad) and 8 rows of group sums fit kGemvSmemBudget.
template <class P>
inline GemvPlan gemv_plan(int64_t m, int64_t k, int ct, int ks, int d) {
  const int64_t unit = (int64_t)kStepK * ks * d;
  const int64_t kp = (k + kStepK - 1) / kStepK * kStepK;
  auto bytes = [&](int64_t kc) { return m * (kc + P::kXPadBytes / 2) * 2 + 8 * (kc / 32 + 1) * 4; };
  int64_t chunks = 1, kc = (kp + unit - 1) / unit * unit;
  while (bytes(kc) > kGemvSmemBudget && kc > unit) {
    ++chunks;
    kc = ((kp + chunks - 1) / chunks + unit - 1) / unit * unit;
  }
  const int64_t reduce = ks > 1 ? (int64_t)ks * ct * 4 * 32 * 4 : 0;
  const int64_t smem = bytes(kc) > reduce ? bytes(kc) : reduce;
  return GemvPlan{(int32_t)kc, (int32_t)((kp + kc - 1) / kc), (int32_t)smem};
}

template <class P, class A, int CT, int KS, int D, int B, int MinBlocks = 1>
__global__ void __launch_bounds__(CT * KS * 32, MinBlocks) weight_only_gemv_kernel(const typename P::Args a, const Shape s, const GemvPlan plan) {
  static_assert(D % B == 0, "loads are refilled B steps at a time");
  constexpr int kThreadsG = CT * KS * 32;
  extern __shared__ __align__(16) uint16_t xs[];
  const int kc = plan.kc, per = kc / kStepK / KS;  // a warp's steps per chunk: a multiple of D
  const int stride = kc + P::kXPadBytes / 2, xsum_stride = kc / 32 + 1;
  float* xsum = (float*)(xs + s.m * stride);
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
  // Group sums of the rows past m are zeros (they only reach outputs that are never stored).
  for (int i = threadIdx.x; i < (8 - (int)s.m) * xsum_stride; i += kThreadsG) xsum[s.m * xsum_stride + i] = 0.0f;

  P::template block_setup<A>();
  float acc[1][4] = {};
  const uint16_t* xrow = xs + min(lane / 4, (int)s.m - 1) * stride + ks * per * kStepK;
  const float* xsum_slice = xsum + ((ks * per * kStepK) >> max(sum_shift, 5));
  for (int c = 0; c < plan.chunks; ++c) {
    if (c > 0) __syncthreads();  // every warp is done with chunk c − 1
    stage_x<P, A, 1, kThreadsG>(s, 0, (int64_t)c * kc, kc, xs, stride, xsum, xsum_stride, sum_shift);
    __syncthreads();
    if (!active) continue;
    const int base = c * spc + ks * per;
    const bool next_chunk = c + 1 < plan.chunks;
    for (int i = 0; i < per; i += D) {
#pragma unroll
      for (int d = 0; d < D; ++d) {
        if (base + i + d < real_steps)
          P::template step<A, 1>(a, raw[d], xrow + (i + d) * kStepK, stride, xsum_slice + (((i + d) * kStepK) >> max(sum_shift, 5)),
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
    // Slices meet in shared memory (x is no longer read): red[ks][ct][e][lane].
    float* red = (float*)xs;
    __syncthreads();
#pragma unroll
    for (int e = 0; e < 4; ++e) red[((ks * CT + ct) * 4 + e) * 32 + lane] = acc[0][e];
    __syncthreads();
    if (ks != 0) return;
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      float v = acc[0][e];
      for (int i = 1; i < KS; ++i) v += red[((i * CT + ct) * 4 + e) * 32 + lane];
      acc[0][e] = v;
    }
  }
  if (active) store_tile<P, A, 1>(a, s, col0, 0, lane, acc, 0);
}

// One GEMV geometry written as the decimal digits of Code = CT KS D B MinBlocks (e.g. 24421): CT column
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

// Weights of at least this many elements are "large" for the GEMV's choice (as for the wgmma kernel's).
constexpr int64_t kGemvLargeWeight = int64_t(1) << 25;

// Launches x (m <= kGemvMaxRows) · Wᵀ with geometry C.
template <class P, class A, class C>
tao_status launch_gemv(tao_ctx* ctx, const typename P::Args& a, Shape s, const char* op) {
  if constexpr (C::kBlockKernel) {
    return launch<P, A>(ctx, a, s, op);
  } else {
    TAO_TRY(use_device(ctx, op));
    auto* kernel = weight_only_gemv_kernel<P, A, C::CT, C::KS, C::D, C::B, C::MinBlocks>;
    const GemvPlan plan = gemv_plan<P>(s.m, s.k, C::CT, C::KS, C::D);
    if (plan.smem > kGemvSmemBudget) return fail(TAO_ERR_INTERNAL, op, "the weight-only GEMV's x chunk does not fit shared memory");
    CUDA_TRY(op, cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, plan.smem));
    s.splits = 1, s.row_blocks = 1, s.split_k = s.k, s.partial = nullptr, s.counters = nullptr;
    const uint64_t blocks = (uint64_t)((s.n + 16 * C::CT - 1) / (16 * C::CT));
    kernel<<<(unsigned)blocks, C::CT * C::KS * 32, plan.smem, stream_of(ctx)>>>(a, s, plan);
    return check_launch(op);
  }
}

// The small-m weight-only launch of policy P: for m <= kGemvMaxRows the geometry Large (weights of
// kGemvLargeWeight elements or more) or Small, else the block kernel of weight_only_gemm.cuh.
template <class P, class A, class Large, class Small>
tao_status launch_small(tao_ctx* ctx, const typename P::Args& a, const Shape& s, const char* op) {
  if (s.m > kGemvMaxRows) return launch<P, A>(ctx, a, s, op);
  if (s.n * s.k >= kGemvLargeWeight) return launch_gemv<P, A, Large>(ctx, a, s, op);
  return launch_gemv<P, A, Small>(ctx, a, s, op);
}

}  // namespace wo
}  // namespace cuda
}  // namespace tao
