// W-lane f32 / i32 vectors as GCC vector extensions, for code compiled into TAO_CPU_CLONES
// functions: those pick W = simd_width() at run time, 16 lanes (one zmm) where the x86-64-v4 clone
// runs and 8 (one ymm in v3, two xmm in the baseline) elsewhere, so vectors never straddle
// registers on the hot path. Helpers are always inlined and never cross an ABI boundary.
#pragma once
#include <stdint.h>
#include <string.h>

#include "../common/hd.h"

#pragma GCC diagnostic ignored "-Wpsabi"  // vector results of inlined helpers: no ABI involved

namespace tao {
namespace cpu {

template <int W>
struct Lanes {
  typedef float F __attribute__((vector_size(4 * W)));
  typedef int32_t I __attribute__((vector_size(4 * W)));
  typedef uint32_t U __attribute__((vector_size(4 * W)));
};

// Lanes per vector on this CPU (see the top of this file); the same test that picks the clone.
inline int simd_width() {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
  static const int w = (__builtin_cpu_init(), __builtin_cpu_supports("x86-64-v4")) ? 16 : 8;
  return w;
#else
  return 8;
#endif
}

template <int W>
TAO_HD typename Lanes<W>::F vload(const float* p) {
  typename Lanes<W>::F v;
  memcpy(&v, p, sizeof v);
  return v;
}

template <int W>
TAO_HD void vstore(float* p, const typename Lanes<W>::F& v) {
  memcpy(p, &v, sizeof v);
}

template <int W>
TAO_HD typename Lanes<W>::F vsplat(float f) {
  typename Lanes<W>::F v;
  for (int l = 0; l < W; ++l) v[l] = f;
  return v;
}

// Lane-wise fma(a, b, c) with one rounding (vfmadd where the clone has FMA).
template <int W>
TAO_HD typename Lanes<W>::F vfma(const typename Lanes<W>::F& a, const typename Lanes<W>::F& b,
                                 const typename Lanes<W>::F& c) {
  typename Lanes<W>::F r;
  for (int l = 0; l < W; ++l) r[l] = __builtin_fmaf(a[l], b[l], c[l]);
  return r;
}

// v rounded to bf16 and widened back: bf16_to_f32(f32_to_bf16(v)) lane-wise (round to nearest
// even, NaN stays a quiet NaN). Equal to convert.h for all 2^32 inputs.
template <int W>
TAO_HD typename Lanes<W>::F vround_bf16(const typename Lanes<W>::F& v) {
  using U = typename Lanes<W>::U;
  const U u = (U)v;
  const U rne = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  const U nan = (u & 0xffff0000u) | 0x00400000u;
  return (typename Lanes<W>::F)((u & 0x7fffffffu) > 0x7f800000u ? nan : rne);
}

// v rounded to f16 and widened back: f16_to_f32(f32_to_f16(v)) lane-wise without branches (equal
// to convert.h for all 2^32 inputs). Normal range: round the mantissa to 10 bits (half to even) in
// place; below 2^-14: add and subtract 0.5, whose ulp 2^-24 is the f16 subnormal quantum;
// >= 65520: inf; NaN: quiet NaN.
template <int W>
TAO_HD typename Lanes<W>::F vround_f16(const typename Lanes<W>::F& v) {
  using F = typename Lanes<W>::F;
  using U = typename Lanes<W>::U;
  const U u = (U)v, sign = u & 0x80000000u, ax = u & 0x7fffffffu;
  const U normal = (ax + 0xfffu + ((ax >> 13) & 1u)) & 0xffffe000u;
  const F half = vsplat<W>(0.5f);
  const U sub = (U)(((F)ax + half) - half);
  U r = ax < 0x38800000u ? sub : normal;
  r = ax >= 0x477ff000u ? 0x7f800000u : r;
  r = ax > 0x7f800000u ? (ax | 0x00400000u) & 0xffffe000u : r;
  return (F)(sign | r);
}

}  // namespace cpu
}  // namespace tao
