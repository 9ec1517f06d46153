// Affine quantization math shared by the CPU and CUDA backends (torchao quant_primitives
// semantics, float32 arithmetic, each step rounded as written; see include/tao.h for the formulas).
#pragma once
#include "convert.h"
#include "hd.h"
#include "tao.h"

namespace tao {

// The scheme of one call, reduced to what the per-element formulas need.
struct AffineScheme {
  int domain;       // TAO_ZERO_POINT_*
  int mapping;      // TAO_MAPPING_* (choose only)
  int target;       // target dtype code
  bool preserve_zero;
  float qmin, qmax; // quantized range (float8: -/+ max finite)
  float mid;        // (qmax + qmin + 1) / 2, the FLOAT-domain midpoint (not truncated)
  float sym_div;    // (qmax - qmin) / 2, computed in float64 then rounded (torchao's divisor)
  float asym_div;   // qmax - qmin
  int32_t sym_zero; // trunc((qmax + qmin + 1) / 2), the symmetric INT zero point
  float eps;
  bool f8;          // target is a float8 format
};

// Block geometry after merging dimensions: element e of the input maps to qparam index
// qindex(e). When nd == 1 the map is e / block[0] (the common per-tensor/row/group case).
struct AffineGeometry {
  int nd;
  uint64_t size[TAO_MAX_DIMS];   // collapsed sizes, outermost first
  uint64_t block[TAO_MAX_DIMS];  // collapsed block sizes (divide size)
  uint64_t qstride[TAO_MAX_DIMS];// stride of each collapsed dim in the qparam tensor
  uint64_t numel;                // input elements
  uint64_t nqp;                  // qparam elements
  uint64_t group;                // elements per block (numel / nqp)
};

TAO_HD uint64_t affine_qindex(const AffineGeometry& g, uint64_t e) {
  if (g.nd == 1) return e / g.block[0];
  uint64_t q = 0;
  for (int d = g.nd - 1; d >= 0; --d) {
    const uint64_t c = e % g.size[d];
    e /= g.size[d];
    q += (c / g.block[d]) * g.qstride[d];
  }
  return q;
}

TAO_HD float clampf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

// The parameters of one block, with the per-block terms of the formulas computed once.
struct AffineBlock {
  float s, zp;
  float inv_s;    // 1 / s (INT and NONE domains multiply by it, as torchao does)
  float min_val;  // zp - s * mid (FLOAT domain)
};

TAO_HD AffineBlock affine_block(float s, float zp, const AffineScheme& sc) {
  return {s, zp, div_rn(1.0f, s), sub_rn(zp, mul_rn(s, sc.mid))};
}

// rint(t / s), the division correctly rounded as in torchao, estimated as rint(t * (1 / s)):
// t * (1 / s) is within 3 ulps of fl(t / s), so both round to the same integer unless a
// half-integer lies that close. *sure says the estimate is certainly rint(fl(t / s)).
TAO_HD float rint_div_estimate(float t, float inv_s, bool* sure) {
  const float d = mul_rn(t, inv_s), r = rint_f(d);
  *sure = abs_f(abs_f(sub_rn(d, r)) - 0.5f) > 4e-7f * abs_f(d);
  return r;
}

// rint(t / s), bit for bit. The GPU, where IEEE division is a long sequence, takes the estimate
// when it is sure; the CPU keeps the division, which it vectorizes.
TAO_HD float rint_div(float t, float s, float inv_s) {
#if defined(__CUDA_ARCH__)
  bool sure;
  const float r = rint_div_estimate(t, inv_s, &sure);
  if (sure) return r;
#else
  (void)inv_s;
#endif
  return rint_f(div_rn(t, s));
}

// A rounded quantized value brought into range: NaN -> 0, then clamp to [qmin, qmax].
TAO_HD float affine_clamp_q(float q, const AffineScheme& sc) {
  if (q != q) q = 0.0f;
  return clampf(q, sc.qmin, sc.qmax);
}

// Quantized value of x as a float (an integer in [qmin, qmax] for integer targets; the f32 value
// of the float8 code for float8 targets, which the caller stores with the f8 encoder), for a
// zero-point domain and target kind known at compile time (kernels specialize on them).
// NaN -> clamp(0, qmin, qmax) for integer targets.
template <int Domain, bool F8>
TAO_HD float affine_quantize_as(float x, const AffineBlock& b, const AffineScheme& sc) {
  if (F8) return div_rn(x, b.s);
  float q;
  if (Domain == TAO_ZERO_POINT_FLOAT) {
    q = rint_div(sub_rn(x, b.min_val), b.s, b.inv_s);
  } else {
    q = rint_f(mul_rn(x, b.inv_s));
    if (Domain == TAO_ZERO_POINT_INT) q = add_rn(q, b.zp);
  }
  return affine_clamp_q(q, sc);
}

// affine_quantize_as with the domain and target kind of the scheme, chosen at run time.
TAO_HD float affine_quantize_value(float x, const AffineBlock& b, const AffineScheme& sc) {
  if (sc.f8) return affine_quantize_as<TAO_ZERO_POINT_NONE, true>(x, b, sc);
  if (sc.domain == TAO_ZERO_POINT_FLOAT) return affine_quantize_as<TAO_ZERO_POINT_FLOAT, false>(x, b, sc);
  if (sc.domain == TAO_ZERO_POINT_INT) return affine_quantize_as<TAO_ZERO_POINT_INT, false>(x, b, sc);
  return affine_quantize_as<TAO_ZERO_POINT_NONE, false>(x, b, sc);
}

// Float value of quantized q (q already decoded to f32).
TAO_HD float affine_dequantize_value(float q, const AffineBlock& b, const AffineScheme& sc) {
  if (sc.domain == TAO_ZERO_POINT_FLOAT) return fma_f(sub_rn(q, sc.mid), b.s, b.zp);
  if (sc.domain == TAO_ZERO_POINT_INT) return mul_rn(sub_rn(q, b.zp), b.s);
  return mul_rn(q, b.s);
}

// The value a quantized element keeps once stored in the target type: float8 keeps only its
// representable values (encode, decode); integers are exact already. Used by fake-quantize.
TAO_HD float affine_target_round(float q, int target) {
  if (target == TAO_F8E4M3FN) return e4m3_to_f32(f32_to_e4m3(q));
  if (target == TAO_F8E5M2) return e5m2_to_f32(f32_to_e5m2(q));
  return q;
}

// scale and zero point of one block from its min and max.
TAO_HD void affine_qparams(float mn, float mx, const AffineScheme& sc, float* scale, float* zp) {
  if (sc.preserve_zero) {
    mn = nan_min(mn, 0.0f);
    mx = nan_max(mx, 0.0f);
  }
  float s;
  if (sc.mapping == TAO_MAPPING_SYMMETRIC) {
    s = div_rn(nan_max(-mn, mx), sc.sym_div);
  } else if (sc.mapping == TAO_MAPPING_SYMMETRIC_NO_CLIPPING_ERR) {
    const float smin = div_rn(mn, sc.qmin), smax = div_rn(mx, sc.qmax);
    s = (smin > smax || smin != smin) ? smin : smax;
  } else {
    s = div_rn(sub_rn(mx, mn), sc.asym_div);
  }
  if (s < sc.eps) s = sc.eps;  // NaN stays NaN
  *scale = s;
  if (sc.domain == TAO_ZERO_POINT_NONE) {
    *zp = 0.0f;
  } else if (sc.mapping != TAO_MAPPING_ASYMMETRIC) {
    *zp = (float)sc.sym_zero;
  } else if (sc.domain == TAO_ZERO_POINT_INT) {
    *zp = clampf(sub_rn(sc.qmin, rint_f(div_rn(mn, s))), sc.qmin, sc.qmax);
  } else {
    *zp = add_rn(mn, mul_rn(s, sc.mid));
  }
}

}  // namespace tao
