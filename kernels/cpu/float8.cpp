// CPU tao_quantize_f8 and tao_linear_f8_f8. Quantization: absmax per row (or per tensor) as the
// maximum of |x|'s bit patterns (for non-negative floats the integer order is the float order, and
// every NaN pattern is above inf, so a NaN wins: torch.amax's propagation), then x / s saturated to
// e4m3 (convert.h). Linear: panel_linear (panel_gemm.h) over e4m3 decoded to f32 (exact), f32 sums,
// then y = dtype(xscale · wscale · sum + bias), rounded once. A reference more than a fast path.
#include "../common/backend.h"
#include "../common/convert.h"
#include "panel_gemm.h"

namespace tao {
namespace cpu {

namespace {

template <int D>
TAO_INLINE uint32_t absmax_bits(const typename Dt<D>::T* x, int64_t k) {
  uint32_t mx = 0;
  for (int64_t t = 0; t < k; ++t) {
    const uint32_t b = f32_bits(Dt<D>::to_f32(x[t])) & 0x7fffffffu;
    mx = b > mx ? b : mx;
  }
  return mx;
}

template <int D>
TAO_INLINE void quantize_row(const typename Dt<D>::T* x, int64_t k, float s, uint8_t* q) {
  for (int64_t t = 0; t < k; ++t) q[t] = f32_to_e4m3(div_rn(Dt<D>::to_f32(x[t]), s));
}

template <int D>
TAO_CPU_CLONES void quantize_rows(const F8QuantCall& c, int64_t r0, int64_t r1, const float* fixed_scale) {
  const auto* x = (const typename Dt<D>::T*)c.x;
  for (int64_t r = r0; r < r1; ++r) {
    float s;
    if (fixed_scale) {
      s = *fixed_scale;
    } else {
      s = f8_scale_of(bits_f32(absmax_bits<D>(x + r * c.k, c.k)));
      c.scale[r] = s;
    }
    quantize_row<D>(x + r * c.k, c.k, s, c.q + r * c.k);
  }
}

template <int D>
TAO_CPU_CLONES uint32_t absmax_range(const F8QuantCall& c, int64_t r0, int64_t r1) {
  return absmax_bits<D>((const typename Dt<D>::T*)c.x + r0 * c.k, (r1 - r0) * c.k);
}

template <int D>
void quantize_as(const F8QuantCall& c) {
  const uint64_t grain = std::max<uint64_t>(1, (uint64_t)(65536 / c.k));
  if (c.rowwise) {
    parallel_for((uint64_t)c.m, grain, [&](uint64_t b, uint64_t e) { quantize_rows<D>(c, (int64_t)b, (int64_t)e, nullptr); });
    return;
  }
  // Per tensor: chunk maxima, then the one scale, then the quantization.
  const int64_t chunks = std::min<int64_t>(c.m, 256);
  std::vector<uint32_t> part((size_t)chunks, 0);
  const int64_t per = (c.m + chunks - 1) / chunks;
  parallel_for((uint64_t)chunks, 1, [&](uint64_t b, uint64_t e) {
    for (uint64_t i = b; i < e; ++i) {
      const int64_t r0 = (int64_t)i * per, r1 = std::min(c.m, r0 + per);
      if (r0 < r1) part[i] = absmax_range<D>(c, r0, r1);
    }
  });
  uint32_t mx = 0;
  for (uint32_t v : part) mx = v > mx ? v : mx;
  const float s = f8_scale_of(bits_f32(mx));
  c.scale[0] = s;
  parallel_for((uint64_t)c.m, grain, [&](uint64_t b, uint64_t e) { quantize_rows<D>(c, (int64_t)b, (int64_t)e, &s); });
}

// dst[j·kl + t] = decode(q[(j0 + j)·k + k0 + t]) (0 past k), j < nb; also x rows (nb rows from r0, kl = kp).
TAO_CPU_CLONES void decode_rows(const uint8_t* q, int64_t k, int64_t j0, int64_t nb, int64_t k0, int64_t kl, float* dst) {
  const int64_t valid = std::min(kl, k - k0);
  for (int64_t j = 0; j < nb; ++j, dst += kl) {
    const uint8_t* src = q + (j0 + j) * k + k0;
    for (int64_t t = 0; t < valid; ++t) dst[t] = e4m3_to_f32(src[t]);
    for (int64_t t = valid; t < kl; ++t) dst[t] = 0.0f;
  }
}

template <int D>
void linear_as(const F8LinearCall& c) {
  using T = typename Dt<D>::T;
  const T* bias = (const T*)c.bias;
  T* y = (T*)c.y;
  const int64_t kp = (c.k + 15) / 16 * 16;
  panel_linear(
      c.m, c.n, kp, [&](int64_t r0, int64_t r1, float* dst) { decode_rows(c.xq, c.k, r0, r1 - r0, 0, kp, dst); },
      [&](int64_t j0, int64_t nb, int64_t k0, int64_t kl, float* dst) { decode_rows(c.wq, c.k, j0, nb, k0, kl, dst); },
      [&](int64_t i, int64_t j0, int64_t nb, const float* acc) {
        const float xs = c.xscale[c.x_rowwise ? i : 0];
        for (int64_t j = 0; j < nb; ++j) {
          const float v = mul_rn(acc[j], mul_rn(xs, c.wscale[c.w_rowwise ? j0 + j : 0]));
          y[i * c.n + j0 + j] = Dt<D>::from_f32(bias ? add_rn(v, Dt<D>::to_f32(bias[j0 + j])) : v);
        }
      });
}

}  // namespace

tao_status quantize_f8(const F8QuantCall& c) {
  if (c.dtype == TAO_F32) quantize_as<TAO_F32>(c);
  else if (c.dtype == TAO_F16) quantize_as<TAO_F16>(c);
  else quantize_as<TAO_BF16>(c);
  return TAO_OK;
}

tao_status linear_f8(const F8LinearCall& c) {
  if (c.dtype == TAO_F32) linear_as<TAO_F32>(c);
  else if (c.dtype == TAO_F16) linear_as<TAO_F16>(c);
  else linear_as<TAO_BF16>(c);
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
