// CPU affine quantization primitives (choose_qparams / quantize / dequantize / fake_quantize).
// The per-element formulas are kernels/common/affine.h, shared with CUDA. Elements are walked in
// runs that share one (scale, zero point): with a collapsed 1-D geometry a run is the rest of a
// block, so parameters are loaded once per run and the inner loop vectorizes.
#include <vector>

#include "../common/affine.h"
#include "../common/backend.h"
#include "../common/convert.h"
#include "../common/dtype_switch.h"
#include "parallel.h"

namespace tao {
namespace cpu {

namespace {

TAO_INLINE AffineBlock load_params(const AffineCall& c, uint64_t q) {
  return affine_block(load_as_f32(c.scale, c.scale_dtype, q),
                      c.zero_point ? load_as_f32(c.zero_point, c.zero_point_dtype, q) : 0.0f, c.scheme);
}

// Calls body(p, i0, i1) for each run [i0, i1) of [b, e) whose elements share one block, p being
// that block's parameters. With a collapsed 1-D geometry a run is the rest of a block, so the
// body's loop is long and vectorizes; otherwise runs are single elements.
template <class Body>
TAO_INLINE void for_each_run(const AffineCall& c, uint64_t b, uint64_t e, Body&& body) {
  for (uint64_t i = b; i < e;) {
    const uint64_t q = affine_qindex(c.geo, i);
    const uint64_t end = c.geo.nd == 1 ? std::min(e, (q + 1) * c.geo.group) : i + 1;
    body(load_params(c, q), i, end);
    i = end;
  }
}

// out[i] = f(in[i], block parameters) over [b, e), converting through f32: the one loop behind
// quantize, dequantize and fake-quantize (f inlines, so each instantiation vectorizes).
template <int IN, int OUT, class F>
TAO_INLINE void map_range(const AffineCall& c, uint64_t b, uint64_t e, F&& f) {
  const auto* in = (const typename Dt<IN>::T*)c.input;
  auto* out = (typename Dt<OUT>::T*)c.output;
  for_each_run(c, b, e, [&](const AffineBlock& p, uint64_t i0, uint64_t i1) {
    for (uint64_t i = i0; i < i1; ++i) out[i] = Dt<OUT>::from_f32(f(Dt<IN>::to_f32(in[i]), p));
  });
}

// Quantize with the zero-point domain fixed at compile time, so the inner loop has no branches on
// it and vectorizes.
template <int IN, int OUT, int DOM>
TAO_INLINE void quantize_range_as(const AffineCall& c, uint64_t b, uint64_t e) {
  const AffineScheme sc = c.scheme;
  map_range<IN, OUT>(c, b, e, [&](float x, const AffineBlock& p) {
    return affine_quantize_as<DOM, Dt<OUT>::is_float>(x, p, sc);
  });
}

template <int IN, int OUT>
TAO_INLINE void quantize_range(const AffineCall& c, uint64_t b, uint64_t e) {
  if (Dt<OUT>::is_float || c.scheme.domain == TAO_ZERO_POINT_NONE) {
    quantize_range_as<IN, OUT, TAO_ZERO_POINT_NONE>(c, b, e);
  } else if (c.scheme.domain == TAO_ZERO_POINT_INT) {
    quantize_range_as<IN, OUT, TAO_ZERO_POINT_INT>(c, b, e);
  } else {
    quantize_range_as<IN, OUT, TAO_ZERO_POINT_FLOAT>(c, b, e);
  }
}

template <int IN, int OUT>
TAO_INLINE void dequantize_range(const AffineCall& c, uint64_t b, uint64_t e) {
  const AffineScheme sc = c.scheme;
  map_range<IN, OUT>(c, b, e, [&](float q, const AffineBlock& p) { return affine_dequantize_value(q, p, sc); });
}

template <int IN, int OUT>
TAO_INLINE void fake_range(const AffineCall& c, uint64_t b, uint64_t e) {
  const AffineScheme sc = c.scheme;
  map_range<IN, OUT>(c, b, e, [&](float x, const AffineBlock& p) {
    return affine_dequantize_value(affine_target_round(affine_quantize_value(x, p, sc), sc.target), p, sc);
  });
}

TAO_CPU_CLONES void elementwise_chunk(AffineOp op, const AffineCall& c, uint64_t b, uint64_t e) {
  if (op == AffineOp::Quantize) {
    TAO_SWITCH_WIDE_FLOAT(c.input_dtype, I,
                          TAO_SWITCH_QUANTIZED(c.output_dtype, O, quantize_range<I, O>(c, b, e)));
  } else if (op == AffineOp::Dequantize) {
    TAO_SWITCH_QUANTIZED(c.input_dtype, I,
                         TAO_SWITCH_WIDE_FLOAT(c.output_dtype, O, dequantize_range<I, O>(c, b, e)));
  } else {
    TAO_SWITCH_WIDE_FLOAT(c.input_dtype, I,
                          TAO_SWITCH_WIDE_FLOAT(c.output_dtype, O, fake_range<I, O>(c, b, e)));
  }
}

// min and max of input[b, e), merged into *mn / *mx; a NaN anywhere makes both NaN (torch.amin/amax
// propagate NaN). The fast pass keeps sixteen independent compare-and-select lanes, which the
// compiler vectorizes, plus a sum of (v - v) that is NaN exactly when some v is NaN or infinite;
// only then is the range rescanned with the NaN-propagating scalar reduction.
template <int IN>
TAO_INLINE void minmax_range(const void* input, uint64_t b, uint64_t e, float* mn, float* mx) {
  const auto* in = (const typename Dt<IN>::T*)input;
  constexpr int L = 16;
  float lo[L], hi[L], special[L];
  for (int j = 0; j < L; ++j) lo[j] = *mn, hi[j] = *mx, special[j] = 0.0f;
  uint64_t i = b;
  for (; i + L <= e; i += L) {
    for (int j = 0; j < L; ++j) {
      const float v = Dt<IN>::to_f32(in[i + j]);
      lo[j] = v < lo[j] ? v : lo[j];
      hi[j] = v > hi[j] ? v : hi[j];
      special[j] += v - v;
    }
  }
  float l = *mn, h = *mx, sp = 0.0f;
  for (int j = 0; j < L; ++j) {
    l = nan_min(l, lo[j]);
    h = nan_max(h, hi[j]);
    sp += special[j];
  }
  if (sp != sp) i = b, l = *mn, h = *mx;  // NaN or inf seen: redo exactly
  for (; i < e; ++i) {
    const float v = Dt<IN>::to_f32(in[i]);
    l = nan_min(l, v);
    h = nan_max(h, v);
  }
  *mn = l;
  *mx = h;
}

TAO_CPU_CLONES void minmax_chunk(const void* input, int dtype, uint64_t b, uint64_t e, float* mn,
                                 float* mx) {
  TAO_SWITCH_WIDE_FLOAT(dtype, I, minmax_range<I>(input, b, e, mn, mx));
}

void store_qparams(const AffineCall& c, uint64_t q, float mn, float mx) {
  float s, zp;
  affine_qparams(mn, mx, c.scheme, &s, &zp);
  store_from_f32(c.scale, c.scale_dtype, q, s);
  if (c.zero_point) store_from_f32(c.zero_point, c.zero_point_dtype, q, zp);
}

tao_status choose(const AffineCall& c) {
  const AffineGeometry& g = c.geo;
  const float inf = __builtin_inff();
  if (g.nd == 1 && g.nqp >= (uint64_t)max_threads()) {
    // Many blocks: one block per task.
    parallel_for(g.nqp, std::max<uint64_t>(1, (1 << 16) / g.group), [&](uint64_t qb, uint64_t qe) {
      for (uint64_t q = qb; q < qe; ++q) {
        float mn = inf, mx = -inf;
        minmax_chunk(c.input, c.input_dtype, q * g.group, (q + 1) * g.group, &mn, &mx);
        store_qparams(c, q, mn, mx);
      }
    });
    return TAO_OK;
  }
  if (g.nd == 1) {
    // Few large blocks: split each block over the threads, then combine.
    const int t = max_threads();
    for (uint64_t q = 0; q < g.nqp; ++q) {
      std::vector<float> mn(t, inf), mx(t, -inf);
      const uint64_t base = q * g.group, per = (g.group + t - 1) / t;
#pragma omp parallel for num_threads(t)
      for (int k = 0; k < t; ++k) {
        const uint64_t b = base + std::min(g.group, per * k), e = base + std::min(g.group, per * (k + 1));
        minmax_chunk(c.input, c.input_dtype, b, e, &mn[k], &mx[k]);
      }
      float lo = inf, hi = -inf;
      for (int k = 0; k < t; ++k) {
        lo = nan_min(lo, mn[k]);
        hi = nan_max(hi, mx[k]);
      }
      store_qparams(c, q, lo, hi);
    }
    return TAO_OK;
  }
  // General geometry: one pass, element by element.
  std::vector<float> mn(g.nqp, inf), mx(g.nqp, -inf);
  for (uint64_t i = 0; i < g.numel; ++i) {
    const uint64_t q = affine_qindex(g, i);
    minmax_chunk(c.input, c.input_dtype, i, i + 1, &mn[q], &mx[q]);
  }
  for (uint64_t q = 0; q < g.nqp; ++q) store_qparams(c, q, mn[q], mx[q]);
  return TAO_OK;
}

}  // namespace

tao_status affine(AffineOp op, const AffineCall& call) {
  if (op == AffineOp::Choose) return choose(call);
  parallel_for(call.geo.numel, 1 << 15, [&](uint64_t b, uint64_t e) {
    elementwise_chunk(op, call, b, e);
  });
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
