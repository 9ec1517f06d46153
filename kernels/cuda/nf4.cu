// CUDA NF4 ops (include/tao.h). Quantize, pack, unpack and dequantize are grid-stride loops over
// 64-weight blocks (the double quantization one thread per 256-block group, in block order, so the
// sums match the CPU's). Linear with 16-bit x at m < wo::dense_from_m() (32 rows): the weight-only
// tensor-core kernels with the policy of nf4_rows_policy.cuh; else the weight is dequantized into
// scratch and multiplied by cuBLASLt (cuda::linear).
#include "../common/backend.h"
#include "../common/convert.h"
#include "launch.cuh"
#include "nf4_rows_policy.cuh"
#include "weight_only_gemv.cuh"

namespace tao {
namespace cuda {

namespace {

__constant__ float kCode[16] = {TAO_NF4_CODES};

// The m <= 8 kernels (weight_only_gemv.cuh: a GEMV geometry code, or 0 for the block kernel) for large
// weights (2^25+ elements) and small ones; a build may set others (CMake TAO_GEMV_TUNING).
#ifndef TAO_GEMV_NF4_LARGE
#define TAO_GEMV_NF4_LARGE 0
#endif
#ifndef TAO_GEMV_NF4_SMALL
#define TAO_GEMV_NF4_SMALL 0
#endif
using GemvLarge = wo::GemvConfig<TAO_GEMV_NF4_LARGE>;
using GemvSmall = wo::GemvConfig<TAO_GEMV_NF4_SMALL>;

// Block scale b of w (double-quantized absmax).
__device__ __forceinline__ float block_scale(const Nf4Weight& w, int64_t b) {
  return nf4_block_scale(w.qscale[b], w.scale2[b / kNf4ScaleGroup], w.offset[b / kNf4ScaleGroup]);
}

// The 16 code values in shared memory (indexed by data: constant memory would serialize lanes).
__device__ __forceinline__ void load_codes(float* code) {
  if (threadIdx.x < 16) code[threadIdx.x] = kCode[threadIdx.x];
  __syncthreads();
}

// codes and absmax of every block: one thread per block of 64.
template <int D>
__global__ void quantize_kernel(const typename Dt<D>::T* __restrict__ src, uint8_t* __restrict__ codes, float* __restrict__ absmax,
                                uint64_t blocks) {
  for (uint64_t b = global_thread(); b < blocks; b += grid_threads())
    absmax[b] = nf4_quantize_block<D>(src + b * kNf4Block, kCode, codes + b * kNf4Block);
}

// One thread per group of 256 blocks: offset, scale2 and the i8 block scales.
__global__ void double_quantize_kernel(Nf4Weight w, const float* __restrict__ absmax, int64_t blocks) {
  const int64_t groups = (blocks + kNf4ScaleGroup - 1) / kNf4ScaleGroup;
  for (uint64_t g = global_thread(); g < (uint64_t)groups; g += grid_threads()) {
    const int64_t b0 = (int64_t)g * kNf4ScaleGroup, b1 = min(blocks, b0 + kNf4ScaleGroup);
    nf4_double_quantize(absmax, b0, b1, (int8_t*)w.qscale, (float*)w.scale2 + g, (float*)w.offset + g);
  }
}

// packed[j] = codes[2j] << 4 | codes[2j + 1] (low 4 bits of each).
__global__ void pack_kernel(const uint8_t* __restrict__ codes, uint8_t* __restrict__ packed, uint64_t bytes) {
  for (uint64_t j = global_thread(); j < bytes; j += grid_threads())
    packed[j] = (uint8_t)((codes[2 * j] & 15) << 4 | (codes[2 * j + 1] & 15));
}

// codes and dequantized block scales: one thread per block.
__global__ void unpack_kernel(Nf4Weight w, uint8_t* __restrict__ codes, float* __restrict__ absmax, uint64_t blocks) {
  for (uint64_t b = global_thread(); b < blocks; b += grid_threads()) {
    absmax[b] = block_scale(w, (int64_t)b);
    for (int t = 0; t < kNf4Block / 2; ++t) {
      const uint8_t p = w.packed[b * (kNf4Block / 2) + t];
      codes[b * kNf4Block + 2 * t] = p >> 4;
      codes[b * kNf4Block + 2 * t + 1] = p & 15;
    }
  }
}

// out = dtype(code · scale): one thread per 16 packed bytes (32 weights, half a block).
template <int D>
__global__ void dequantize_kernel(Nf4Weight w, typename Dt<D>::T* __restrict__ out, uint64_t chunks) {
  __shared__ float code[16];
  load_codes(code);
  for (uint64_t i = global_thread(); i < chunks; i += grid_threads()) {
    const float s = block_scale(w, (int64_t)(i / 2));
    const uint4 p = __ldg((const uint4*)w.packed + i);
    const uint32_t words[4] = {p.x, p.y, p.z, p.w};
    Vec<typename Dt<D>::T, 8> v[4];
#pragma unroll
    for (int e = 0; e < 32; ++e) {
      const uint32_t byte = words[e / 8] >> (8 * (e / 2 % 4)) & 0xffu;
      v[e / 8].v[e % 8] = Dt<D>::from_f32(mul_rn(code[e % 2 ? byte & 15 : byte >> 4], s));
    }
    auto* dst = (Vec<typename Dt<D>::T, 8>*)(out + 32 * i);
#pragma unroll
    for (int q = 0; q < 4; ++q) dst[q] = v[q];
  }
}

// y = x · Wᵀ (+ bias) for m < wo::dense_from_m() rows with the weight-only tensor-core kernels
// (nf4_rows_policy.cuh: levels rounded to the dtype, f32 block scales on the mma results).
template <int D>
tao_status fused(tao_ctx* ctx, const Nf4LinearCall& c, const char* op) {
  const wo::Shape s{c.m, c.w.n, c.w.k, 0, 0, 0, c.x, c.bias, c.y, nullptr, nullptr};
  return wo::launch_small<Nf4Rows, Act<D>, GemvLarge, GemvSmall>(ctx, Nf4Rows::Args{c.w}, s, op);
}

// Launches the dequantization of w into out (dtype D).
template <int D>
tao_status dequantize(tao_ctx* ctx, const Nf4Weight& w, void* out, const char* op) {
  const uint64_t chunks = (uint64_t)(w.n * w.k / 32);
  dequantize_kernel<D><<<grid_for(ctx, chunks, 256), 256, 0, stream_of(ctx)>>>(w, (typename Dt<D>::T*)out, chunks);
  return check_launch(op);
}

tao_status dequantize_as(tao_ctx* ctx, const Nf4Weight& w, void* out, int dtype, const char* op) {
  if (dtype == TAO_F32) return dequantize<TAO_F32>(ctx, w, out, op);
  return dtype == TAO_F16 ? dequantize<TAO_F16>(ctx, w, out, op) : dequantize<TAO_BF16>(ctx, w, out, op);
}

}  // namespace

tao_status nf4(tao_ctx* ctx, Nf4Op op, const Nf4Call& c) {
  const char* names[] = {"tao_nf4_quantize", "tao_nf4_pack", "tao_nf4_unpack", "tao_dequantize_nf4"};
  const char* name = names[(int)op];
  TAO_TRY(use_device(ctx, name));
  const Nf4Weight& w = c.w;
  const uint64_t blocks = (uint64_t)(w.n * w.k / kNf4Block);
  cudaStream_t st = stream_of(ctx);
  switch (op) {
    case Nf4Op::Quantize:
      if (c.dtype == TAO_F32) quantize_kernel<TAO_F32><<<grid_for(ctx, blocks, 128), 128, 0, st>>>((const float*)c.src, c.codes, c.absmax, blocks);
      else if (c.dtype == TAO_F16) quantize_kernel<TAO_F16><<<grid_for(ctx, blocks, 128), 128, 0, st>>>((const uint16_t*)c.src, c.codes, c.absmax, blocks);
      else quantize_kernel<TAO_BF16><<<grid_for(ctx, blocks, 128), 128, 0, st>>>((const uint16_t*)c.src, c.codes, c.absmax, blocks);
      return check_launch(name);
    case Nf4Op::Pack: {
      const uint64_t groups = (blocks + kNf4ScaleGroup - 1) / kNf4ScaleGroup;
      double_quantize_kernel<<<grid_for(ctx, groups, 128), 128, 0, st>>>(w, c.absmax, (int64_t)blocks);
      TAO_TRY(check_launch(name));
      const uint64_t bytes = (uint64_t)(w.n * w.k / 2);
      pack_kernel<<<grid_for(ctx, bytes, 256), 256, 0, st>>>(c.codes, (uint8_t*)w.packed, bytes);
      return check_launch(name);
    }
    case Nf4Op::Unpack:
      unpack_kernel<<<grid_for(ctx, blocks, 128), 128, 0, st>>>(w, c.codes, c.absmax, blocks);
      return check_launch(name);
    case Nf4Op::Dequantize:
      // The kernel reads the packed weight 16 bytes at a time.
      if (!aligned_to(w.packed, 16) || !aligned_to(c.out, 16)) return fail(TAO_ERR_INVALID_ARGUMENT, name, "packed and out must be 16-byte aligned on CUDA");
      return dequantize_as(ctx, w, c.out, c.dtype, name);
  }
  return fail(TAO_ERR_INTERNAL, name, "unknown op");
}

tao_status nf4_linear(tao_ctx* ctx, const Nf4LinearCall& c) {
  const char* op = "tao_linear_nf4";
  TAO_TRY(use_device(ctx, op));
  if (!aligned_to(c.w.packed, 16)) return fail(TAO_ERR_INVALID_ARGUMENT, op, "packed must be 16-byte aligned on CUDA");
  if (c.m < wo::dense_from_m() && c.dtype != TAO_F32)
    return c.dtype == TAO_F16 ? fused<TAO_F16>(ctx, c, op) : fused<TAO_BF16>(ctx, c, op);
  void* w = nullptr;
  const uint64_t elem = c.dtype == TAO_F32 ? 4 : 2;
  TAO_TRY(alloc(ctx, (uint64_t)(c.w.n * c.w.k) * elem, &w));
  tao_status s = dequantize_as(ctx, c.w, w, c.dtype, op);
  if (s == TAO_OK) s = linear(ctx, LinearCall{c.x, w, c.bias, c.y, c.dtype, c.m, c.w.n, c.w.k});
  const tao_status fs = release(ctx, w);
  return s != TAO_OK ? s : fs;
}

}  // namespace cuda
}  // namespace tao
