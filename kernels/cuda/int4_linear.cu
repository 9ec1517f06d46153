// CUDA y = x · Wᵀ (+ bias) for an int4 W in tinygemm's tensor-core-tiled layout, bf16 or f16 x.
//  - small m: the weight-only tensor-core kernels with the policy of int4_tiled_policy.cuh, which
//    takes the packed words into the mma as they are (weights exact, never rounded): for m <= 8 the
//    GEMV (weight_only_gemv.cuh) or the block kernel (weight_only_gemm.cuh) as the geometries below
//    say, the block kernel up to m = 32;
//  - from m = 17 or 33 (by weight size) to 512 or 64 on Hopper (sm_90a builds): the wgmma kernel
//    (weight_wgmma_gemm.cuh, which states the bounds), the policy's fragments dequantized in registers
//    to tinygemm's bf16 value (one bf16 fma, rounded once; then f16 for f16 x);
//  - larger m, or m > 32 elsewhere: W is dequantized to that same value into a scratch buffer and the
//    product runs in cuBLASLt (bench/NOTES.md has the measurements behind the thresholds).
#include "../common/backend.h"
#include "int4_tiled_policy.cuh"
#include "weight_only_gemv.cuh"
#include "weight_wgmma_gemm.cuh"

namespace tao {
namespace cuda {

namespace {

using int4::Int4TiledArgs;
using int4::Int4TiledWeights;

// The m <= 8 kernels (weight_only_gemv.cuh: a GEMV geometry code, or 0 for the block kernel) for large
// weights (2^25+ elements) and small ones, the choice of bench/native/gemv_probe.cu's clean-L2 sweep on
// an H100 (bench/NOTES.md, session 6: the block kernel on 28672 x 4096 and 4096 x 14336, the GEMV CT1 KS8
// D4 B2 on 4096 x 4096 and 6144 x 4096, within 8 % of each shape's fastest); a build may set others
// (CMake TAO_GEMV_TUNING).
#ifndef TAO_GEMV_INT4_LARGE
#define TAO_GEMV_INT4_LARGE 0
#endif
#ifndef TAO_GEMV_INT4_SMALL
#define TAO_GEMV_INT4_SMALL 18421
#endif
using GemvLarge = wo::GemvConfig<TAO_GEMV_INT4_LARGE>;
using GemvSmall = wo::GemvConfig<TAO_GEMV_INT4_SMALL>;

// The policy's arguments for call c.
Int4TiledArgs int4_args(const Int4LinearCall& c) { return int4::int4_tiled_args(c.packed, c.sz, c.g.n, c.g.k, c.g.k_outer, c.group); }

// The mma kernels (the GEMV up to m = 16, then the block kernel) with the group size a compile-time constant.
template <int T, int Dtype, int G>
tao_status fused_mma(tao_ctx* ctx, const Int4LinearCall& c, const wo::Shape& s, const char* op) {
  return wo::launch_small<Int4TiledWeights<T, G>, Act<Dtype>, GemvLarge, GemvSmall>(ctx, int4_args(c), s, op);
}

template <int T, int Dtype>
tao_status fused(tao_ctx* ctx, const Int4LinearCall& c, bool wgmma, const char* op) {
  const wo::Shape s{c.m, c.g.n, c.g.k, 0, 0, 0, c.x, c.bias, c.y, nullptr, nullptr};
  if (wgmma) return wg::launch<Int4TiledWeights<T, 0>, Dtype>(ctx, int4_args(c), s, op);
  switch (c.group) {
    case 32: return fused_mma<T, Dtype, 32>(ctx, c, s, op);
    case 64: return fused_mma<T, Dtype, 64>(ctx, c, s, op);
    case 128: return fused_mma<T, Dtype, 128>(ctx, c, s, op);
    default: return fused_mma<T, Dtype, 256>(ctx, c, s, op);
  }
}

template <int Dtype>
tao_status fused_tiles(tao_ctx* ctx, const Int4LinearCall& c, bool wgmma, const char* op) {
  if (c.g.tiles == 2) return fused<2, Dtype>(ctx, c, wgmma, op);
  if (c.g.tiles == 4) return fused<4, Dtype>(ctx, c, wgmma, op);
  return fused<8, Dtype>(ctx, c, wgmma, op);
}

// W dequantized (bf16, then cast for f16) into a scratch buffer, then cuBLASLt.
tao_status dequantize_then_gemm(tao_ctx* ctx, const Int4LinearCall& c) {
  const uint64_t elems = (uint64_t)c.g.n * c.g.k;
  void* w = nullptr;
  TAO_TRY(alloc(ctx, elems * 2, &w));
  tao_status s = int4_tiled(ctx, Int4Op::Dequantize, Int4TiledCall{c.g, c.packed, w, c.sz, c.group});
  if (s == TAO_OK && c.dtype == TAO_F16) s = cast(ctx, w, TAO_BF16, w, TAO_F16, elems);
  if (s == TAO_OK) s = linear(ctx, LinearCall{c.x, w, c.bias, c.y, c.dtype, c.m, c.g.n, c.g.k});
  const tao_status fs = release(ctx, w);
  return s != TAO_OK ? s : fs;
}

}  // namespace

tao_status int4_tiled_linear(tao_ctx* ctx, const Int4LinearCall& c) {
  const char* op = "tao_linear_int4_tensor_core_tiled";
  const bool wgmma = c.m >= wg::wgmma_from_m() && c.m < wg::wgmma_until_m() &&
                     wg::wgmma_usable(ctx, c.x, c.y, c.packed, c.sz, c.m, c.g.n, c.g.k);
  if (!wgmma && c.m >= wo::dense_from_m()) return dequantize_then_gemm(ctx, c);
  return c.dtype == TAO_F16 ? fused_tiles<TAO_F16>(ctx, c, wgmma, op) : fused_tiles<TAO_BF16>(ctx, c, wgmma, op);
}

}  // namespace cuda
}  // namespace tao
