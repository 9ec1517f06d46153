// CUDA int8 weight-only linear (torchao's int8_weight_only): y = (x · qᵀ) · scale[n] + bias[n], q
// int8 row-major [n, k]. m <= 32: the weight-only tensor-core kernel (weight_only_gemm.cuh);
// larger m: w = dtype(q · scale) (rounded once) into a scratch buffer, then cuBLASLt with the bias.
#include "../common/backend.h"
#include "weight_only_gemm.cuh"

namespace tao {
namespace cuda {

namespace {

// Row-major int8 seen by one warp: output columns col0 + g and col0 + 8 + g (rows of q) for lane
// t = 4g + q. The k order inside a 64-k span is free (the mma sums over it), so lane q reads 16
// consecutive bytes at k = 16q of both rows; bytes 4i..4i+3 are the pairs (2q, 2q+1) and
// (2q+8, 2q+9) of mma k-tile i. x stays in natural order: lane q's B fragments are its 16
// values at k = 16q, two 16-byte reads. Rows are ldq bytes apart, ldq a multiple of 16.
struct Int8Rows {
  struct Args {
    const int8_t* q;
    const uint16_t* scale;  // dtype [n]
    int64_t n, k, ldq;
    bool f16;  // scale dtype
  };
  struct Raw {
    uint4 a[2], b[2];  // spans 0, 1 of the step; rows col0 + g and col0 + 8 + g
  };
  static constexpr int kDepth = 2;
  static constexpr int kXPadBytes = 16;  // staged rows 16 bytes apart mod 128: conflict-free

  static __device__ __forceinline__ int x_slot(int o) { return o; }
  static __device__ __forceinline__ int sum_shift(const Args&) { return -1; }
  static __device__ __forceinline__ float col_scale(const Args& a, int64_t col) {
    return a.f16 ? f16_to_f32(a.scale[col]) : bf16_to_f32(a.scale[col]);
  }

  // Lane (g, q)'s bytes of rows col0 + g and col0 + 8 + g at k_begin + 16q (then +128 per step).
  struct Cursor {
    const int8_t* a;
    const int8_t* b;
    int64_t k0;  // k of the cursor's first byte
  };
  static __device__ __forceinline__ Cursor cursor(const Args& a, int64_t col0, int64_t k_begin, int lane) {
    const int g = lane / 4, q = lane % 4;
    const int64_t ra = min(col0 + g, a.n - 1), rb = min(col0 + 8 + g, a.n - 1), k0 = k_begin + 16 * q;
    return Cursor{a.q + ra * a.ldq + k0, a.q + rb * a.ldq + k0, k0};
  }

  // Spans 0 and 1 of the step (zeros from k on: a padded row's tail is zero too).
  static __device__ __forceinline__ void load(const Args& a, const Cursor& cur, int step, Raw& r) {
#pragma unroll
    for (int sp = 0; sp < 2; ++sp) {
      const int o = step * 128 + 64 * sp;
      const bool in = cur.k0 + o < a.k;
      r.a[sp] = in ? __ldg((const uint4*)(cur.a + o)) : make_uint4(0, 0, 0, 0);
      r.b[sp] = in ? __ldg((const uint4*)(cur.b + o)) : make_uint4(0, 0, 0, 0);
    }
  }

  static __device__ __forceinline__ uint32_t word(const uint4& v, int i) {
    return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
  }

  template <class A, int NB>
  static __device__ __forceinline__ void step(const Args&, const Raw& r, const uint16_t* xrow, int stride, const float*, int,
                                              int lane, float (&acc)[NB][4]) {
    const int q = lane % 4;
#pragma unroll
    for (int sp = 0; sp < 2; ++sp) {
      uint4 xv[NB][2];
#pragma unroll
      for (int b = 0; b < NB; ++b)
#pragma unroll
        for (int h = 0; h < 2; ++h) xv[b][h] = *(const uint4*)(xrow + b * 8 * stride + 64 * sp + 16 * q + 8 * h);
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const uint32_t wa = word(r.a[sp], i) ^ 0x80808080u, wb = word(r.b[sp], i) ^ 0x80808080u;
        const uint32_t f[4] = {A::int8_pair(wa, 0), A::int8_pair(wb, 0), A::int8_pair(wa, 1), A::int8_pair(wb, 1)};
#pragma unroll
        for (int b = 0; b < NB; ++b) {
          const uint4& v = xv[b][i / 2];
          A::mma(acc[b], f, i % 2 ? v.z : v.x, i % 2 ? v.w : v.y);
        }
      }
    }
  }
};

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
  return wo::launch<Int8Rows, Act<Dtype>>(ctx, a, s, op);
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
