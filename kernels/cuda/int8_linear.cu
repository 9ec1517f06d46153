// CUDA int8 weight-only linear (torchao's int8_weight_only): y = (x · qᵀ) · scale[n] + bias[n], q
// int8 row-major [n, k]. m <= 32: the weight-only tensor-core kernels with the policy of
// int8_rows_policy.cuh (for m <= 8 the GEMV of weight_only_gemv.cuh or the block kernel of
// weight_only_gemm.cuh as the geometries below say, then the block kernel);
// larger m: w = dtype(q · scale) (rounded once) into a scratch buffer, then cuBLASLt with the bias.
#include "../common/backend.h"
#include "int8_rows_policy.cuh"
#include "weight_only_gemv.cuh"

namespace tao {
namespace cuda {

namespace {

// The m <= 8 kernels (weight_only_gemv.cuh: a GEMV geometry code, or 0 for the block kernel) for large
// weights (2^25+ elements) and small ones, the choice of bench/native/gemv_probe.cu's clean-L2 sweep on
// an H100 (bench/NOTES.md, session 6: the block kernel on all four shapes); a build may set others (CMake
// TAO_GEMV_TUNING).
#ifndef TAO_GEMV_INT8_LARGE
#define TAO_GEMV_INT8_LARGE 0
#endif
#ifndef TAO_GEMV_INT8_SMALL
#define TAO_GEMV_INT8_SMALL 0
#endif
using GemvLarge = wo::GemvConfig<TAO_GEMV_INT8_LARGE>;
using GemvSmall = wo::GemvConfig<TAO_GEMV_INT8_SMALL>;

// w[n][k] = dtype(q[n][k] · scale[n]), 8 values per thread (vec: k % 8 == 0, q 8-byte aligned) or one.
template <int Dtype>
__global__ void int8_dequantize_kernel(const int8_t* __restrict__ q, const uint16_t* __restrict__ scale, uint16_t* __restrict__ w,
                                       int64_t n, int64_t k, bool vec) {
  const uint64_t items = vec ? (uint64_t)(n * k / 8) : (uint64_t)(n * k);
  for (uint64_t i = global_thread(); i < items; i += grid_threads()) {
    const uint64_t e0 = vec ? 8 * i : i;
    const float s = Act<Dtype>::to_f32(scale[e0 / k]);
    if (!vec) {
      w[e0] = Act<Dtype>::from_f32((float)q[e0] * s);
      continue;
    }
    const uint2 raw = *(const uint2*)(q + e0);
    Vec<uint16_t, 8> out;
#pragma unroll
    for (int e = 0; e < 8; ++e) out.v[e] = Act<Dtype>::from_f32((float)(int8_t)((e < 4 ? raw.x : raw.y) >> (8 * (e % 4))) * s);
    *(Vec<uint16_t, 8>*)(w + e0) = out;
  }
}

template <int Dtype>
tao_status dequantize_then_gemm(tao_ctx* ctx, const Int8LinearCall& c, const char* op) {
  void* w = nullptr;
  TAO_TRY(alloc(ctx, (uint64_t)(c.n * c.k) * 2, &w));
  const bool vec = c.k % 8 == 0 && aligned_to(c.q, 8);
  const uint64_t items = vec ? (uint64_t)(c.n * c.k / 8) : (uint64_t)(c.n * c.k);
  int8_dequantize_kernel<Dtype><<<grid_for(ctx, items, 256), 256, 0, stream_of(ctx)>>>((const int8_t*)c.q, (const uint16_t*)c.scale,
                                                                                     (uint16_t*)w, c.n, c.k, vec);
  tao_status s = check_launch(op);
  if (s == TAO_OK) s = linear(ctx, LinearCall{c.x, w, c.bias, c.y, c.dtype, c.m, c.n, c.k});
  const tao_status fs = release(ctx, w);
  return s != TAO_OK ? s : fs;
}

template <int Dtype>
tao_status run(tao_ctx* ctx, const Int8LinearCall& c, const int8_t* q, int64_t ldq, const char* op) {
  const Int8Rows::Args a{q, (const uint16_t*)c.scale, c.n, c.k, ldq, Dtype == TAO_F16};
  const wo::Shape s{c.m, c.n, c.k, 0, 0, 0, c.x, c.bias, c.y, nullptr, nullptr};
  return wo::launch_small<Int8Rows, Act<Dtype>, GemvLarge, GemvSmall>(ctx, a, s, op);
}

tao_status run_dtype(tao_ctx* ctx, const Int8LinearCall& c, const int8_t* q, int64_t ldq, const char* op) {
  return c.dtype == TAO_F16 ? run<TAO_F16>(ctx, c, q, ldq, op) : run<TAO_BF16>(ctx, c, q, ldq, op);
}

}  // namespace

tao_status int8_linear(tao_ctx* ctx, const Int8LinearCall& c) {
  const char* op = "tao_linear_int8_weight_only";
  if (c.m >= wo::dense_from_m()) {
    TAO_TRY(use_device(ctx, op));
    return c.dtype == TAO_F16 ? dequantize_then_gemm<TAO_F16>(ctx, c, op) : dequantize_then_gemm<TAO_BF16>(ctx, c, op);
  }
  if (c.k % 16 == 0 && aligned_to(c.q, 16)) return run_dtype(ctx, c, (const int8_t*)c.q, c.k, op);
  // Rows that 16-byte loads cannot read: a zero-padded copy with rows of a multiple of 16 bytes.
  const int64_t ldq = (c.k + 15) / 16 * 16;
  void* padded = nullptr;
  TAO_TRY(use_device(ctx, op));
  TAO_TRY(alloc(ctx, (uint64_t)(c.n * ldq), &padded));
  tao_status s = TAO_OK;
  cudaError_t e = cudaMemsetAsync(padded, 0, (size_t)(c.n * ldq), stream_of(ctx));
  if (e == cudaSuccess)
    e = cudaMemcpy2DAsync(padded, (size_t)ldq, c.q, (size_t)c.k, (size_t)c.k, (size_t)c.n, cudaMemcpyDeviceToDevice, stream_of(ctx));
  s = e != cudaSuccess ? cuda_fail(e, op, "padding q") : run_dtype(ctx, c, (const int8_t*)padded, ldq, op);
  const tao_status fs = release(ctx, padded);
  return s != TAO_OK ? s : fs;
}

}  // namespace cuda
}  // namespace tao
