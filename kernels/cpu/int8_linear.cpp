// CPU tao_linear_int8_weight_only: y[m, n] = (Σ_k x[m, k] · q[n, k]) · scale[n] (+ bias[n]) through
// panel_linear (panel_gemm.h): panels are q widened to f32 (exact), so the sums are exact products
// accumulated in f32; scale and bias are applied in f32 and y is rounded once. k is zero-padded to
// a multiple of 16 in both the widened x rows and the panels.
#include "../common/backend.h"
#include "../common/convert.h"
#include "panel_gemm.h"

namespace tao {
namespace cpu {

namespace {

// dst[(r - r0)·kp + t] = x[r][t] as f32 for t < k, 0 up to kp; rows [r0, r1).
template <int D>
TAO_INLINE void widen_rows(const void* x, int64_t k, int64_t kp, int64_t r0, int64_t r1, float* dst) {
  const auto* src = (const typename Dt<D>::T*)x;
  for (int64_t r = r0; r < r1; ++r, dst += kp) {
    for (int64_t t = 0; t < k; ++t) dst[t] = Dt<D>::to_f32(src[r * k + t]);
    for (int64_t t = k; t < kp; ++t) dst[t] = 0.0f;
  }
}

TAO_CPU_CLONES void widen_x_rows(const Int8LinearCall& c, int64_t kp, int64_t r0, int64_t r1, float* dst) {
  if (c.dtype == TAO_F16) widen_rows<TAO_F16>(c.x, c.k, kp, r0, r1, dst);
  else widen_rows<TAO_BF16>(c.x, c.k, kp, r0, r1, dst);
}

// dst[j·kl + t] = q[j0 + j][k0 + t] as f32 (0 past k), j < nb.
TAO_CPU_CLONES void widen_panel(const int8_t* q, int64_t k, int64_t j0, int64_t nb, int64_t k0, int64_t kl, float* dst) {
  const int64_t valid = std::min(kl, k - k0);
  for (int64_t j = 0; j < nb; ++j, dst += kl) {
    const int8_t* src = q + (j0 + j) * k + k0;
    if (k0 + kl < k)
      for (int64_t t = 0; t < kl; t += 64) __builtin_prefetch(src + kl + t);  // this row's next panel
    for (int64_t t = 0; t < valid; ++t) dst[t] = (float)src[t];
    for (int64_t t = valid; t < kl; ++t) dst[t] = 0.0f;
  }
}

template <int D>
void linear_as(const Int8LinearCall& c) {
  using T = typename Dt<D>::T;
  const T* scale = (const T*)c.scale;
  const T* bias = (const T*)c.bias;
  T* y = (T*)c.y;
  const int64_t kp = (c.k + 15) / 16 * 16;
  panel_linear(
      c.m, c.n, kp, [&](int64_t r0, int64_t r1, float* dst) { widen_x_rows(c, kp, r0, r1, dst); },
      [&](int64_t j0, int64_t nb, int64_t k0, int64_t kl, float* dst) {
        widen_panel((const int8_t*)c.q, c.k, j0, nb, k0, kl, dst);
      },
      [&](int64_t i, int64_t j0, int64_t nb, const float* acc) {
        for (int64_t j = 0; j < nb; ++j) {
          const float v = mul_rn(acc[j], Dt<D>::to_f32(scale[j0 + j]));
          y[i * c.n + j0 + j] = Dt<D>::from_f32(bias ? add_rn(v, Dt<D>::to_f32(bias[j0 + j])) : v);
        }
      });
}

}  // namespace

tao_status int8_linear(const Int8LinearCall& c) {
  if (c.dtype == TAO_F16) linear_as<TAO_F16>(c);
  else linear_as<TAO_BF16>(c);
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
