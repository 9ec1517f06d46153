// The int8 row-major weight policy (torchao's int8_weight_only: per-row scale) of the weight-only
// tensor-core kernels (weight_only_gemm.cuh, weight_only_gemv.cuh).
#pragma once
#include <stdint.h>

#include "../common/convert.h"
#include "mma.cuh"

namespace tao {
namespace cuda {

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

  template <class A>
  static __device__ __forceinline__ void block_setup() {}  // no shared tables
  static __device__ __forceinline__ int x_slot(int o) { return o; }
  static __host__ __device__ __forceinline__ int sum_shift(const Args&) { return -1; }
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

}  // namespace cuda
}  // namespace tao
