// CUDA dense y[1, n] = x[1, k] · w[n, k]ᵀ (+ bias), bf16 or f16: the decode-time product, bound by
// reading w once. One warp per output column j streams w's row j (contiguous k) with 16-byte loads,
// kUnroll of them in flight per lane, and keeps one f32 sum; x (a few KB, L1/L2-resident) is read
// with 16-byte loads beside it. The lane sums meet in a fixed shuffle tree, the bias is added in f32
// and y rounded once: deterministic, and the contract of the cuBLASLt path (f32 accumulation, one
// rounding). Only m = 1: at m = 2 and 4 (x re-read per row) cuBLASLt was as fast or faster
// (bench/NOTES.md). Requires k % 8 == 0 and 16-byte-aligned x and w (gemv_usable).
#include "../common/backend.h"
#include "../common/convert.h"
#include "gemv.h"
#include "launch.cuh"

namespace tao {
namespace cuda {

namespace {

constexpr int kWarps = 8;   // per block
constexpr int kUnroll = 4;  // 16-byte loads of w in flight per lane

// Eight halves of a 16-byte vector as f32 pairs: Σ x·w over them, added to acc.
template <int Dtype>
__device__ __forceinline__ float dot8(const uint4& w, const uint4& x, float acc) {
  using D = Dt<Dtype>;
  const uint16_t* wv = (const uint16_t*)&w;
  const uint16_t* xv = (const uint16_t*)&x;
#pragma unroll
  for (int e = 0; e < 8; ++e) acc = fmaf(D::to_f32(xv[e]), D::to_f32(wv[e]), acc);
  return acc;
}

// Column j = blockIdx.x·kWarps + warp of y = x · wᵀ, k8 = k / 8 vectors per row.
template <int Dtype>
__global__ void __launch_bounds__(kWarps * 32) gemv_kernel(const uint4* __restrict__ x, const uint4* __restrict__ w,
                                                           const void* bias, void* y, int64_t n, int64_t k8) {
  using D = Dt<Dtype>;
  const int lane = threadIdx.x % 32;
  const int64_t j = (int64_t)blockIdx.x * kWarps + threadIdx.x / 32;
  if (j >= n) return;
  const uint4* wr = w + j * k8;
  float acc = 0.0f;
  int64_t i = lane;
  for (; i + 32 * (kUnroll - 1) < k8; i += 32 * kUnroll) {
    uint4 wv[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) wv[u] = __ldcs(wr + i + 32 * u);  // streamed once: evict first
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) acc = dot8<Dtype>(wv[u], __ldg(x + i + 32 * u), acc);
  }
  for (; i < k8; i += 32) acc = dot8<Dtype>(__ldcs(wr + i), __ldg(x + i), acc);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) acc += __shfl_xor_sync(0xFFFFFFFFu, acc, o);
  if (lane != 0) return;
  const float b = bias ? D::to_f32(((const typename D::T*)bias)[j]) : 0.0f;
  ((typename D::T*)y)[j] = D::from_f32(acc + b);
}

}  // namespace

bool gemv_usable(const LinearCall& c) {
  return (c.dtype == TAO_BF16 || c.dtype == TAO_F16) && c.m == 1 && c.k % 8 == 0 && aligned_to(c.x, 16) &&
         aligned_to(c.w, 16) && c.n <= (int64_t)kWarps * 0x7FFFFFFF;
}

tao_status gemv(tao_ctx* ctx, const LinearCall& c) {
  const char* op = "tao_linear";
  TAO_TRY(use_device(ctx, op));
  const unsigned grid = (unsigned)((c.n + kWarps - 1) / kWarps);
  const auto* x = (const uint4*)c.x;
  const auto* w = (const uint4*)c.w;
  if (c.dtype == TAO_F16) gemv_kernel<TAO_F16><<<grid, kWarps * 32, 0, stream_of(ctx)>>>(x, w, c.bias, c.y, c.n, c.k / 8);
  else gemv_kernel<TAO_BF16><<<grid, kWarps * 32, 0, stream_of(ctx)>>>(x, w, c.bias, c.y, c.n, c.k / 8);
  return check_launch(op);
}

}  // namespace cuda
}  // namespace tao
