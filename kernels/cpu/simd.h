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
  typedef uint16_t H __attribute__((vector_size(2 * W)));  // 16-bit lanes (bf16 / f16 bits)
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

}  // namespace cpu
}  // namespace tao
