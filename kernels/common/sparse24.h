// 2:4 semi-structured sparsity shared by the CPU and CUDA backends: the rule that picks the 2 kept
// values of a group of 4 (one definition, so both backends keep the same ones) and the validated
// calls of the sparse24 / cuSPARSELt entry points (include/tao.h gives the formats).
#pragma once
#include <stdint.h>

#include "convert.h"
#include "hd.h"
#include "tao.h"

namespace tao {

// Whether score a (at position ia) ranks above score b (at ib): larger first, NaN above every
// number, ties to the lower position.
TAO_HD bool sparse24_above(float a, int ia, float b, int ib) {
  const bool na = a != a, nb = b != b;
  if (na || nb) return na && (!nb || ia < ib);
  return a > b || (a == b && ia < ib);
}

// Meta byte i0 | (i1 << 2) (i0 < i1) of the 2 best of 4 scores.
TAO_HD uint8_t sparse24_pick(const float (&s)[4]) {
  int kept[2], nk = 0;
  for (int t = 0; t < 4; ++t) {
    int beaten = 0;
    for (int u = 0; u < 4; ++u) beaten += u != t && sparse24_above(s[u], u, s[t], t);
    if (beaten < 2 && nk < 2) kept[nk++] = t;
  }
  return (uint8_t)(kept[0] | (kept[1] << 2));
}

enum class Sparse24Op { Mask, Compress, Decompress };

// One tao_sparse24_mask / compress / decompress call after validation. w is the dense [n, k] weight
// (read by Mask and Compress, written by Decompress); values [n, k/2] and meta [n, k/4] the compressed form.
struct Sparse24Call {
  const void* w_in;
  void* w_out;
  int dtype;               // TAO_F32, TAO_F16, TAO_BF16 or TAO_I8
  const float* col_scale;  // Mask: f32 [k] or NULL
  uint8_t* mask;           // Mask: u8 [n, k]
  const void* values_in;   // Decompress
  void* values_out;        // Compress
  const uint8_t* meta_in;  // Decompress
  uint8_t* meta_out;       // Compress
  int64_t n, k;
};

// Group g (row g / (k/4), groups of 4 along k) of one call, for element type T with to_f32 F.
template <class T, class F>
TAO_HD void sparse24_group(Sparse24Op op, const Sparse24Call& c, int64_t g, F to_f32) {
  const int64_t col = (g % (c.k / 4)) * 4, row = g / (c.k / 4), e0 = row * c.k + col;
  if (op == Sparse24Op::Decompress) {
    const uint8_t b = c.meta_in[g];
    const T* v = (const T*)c.values_in + 2 * g;
    T* w = (T*)c.w_out + e0;
    for (int t = 0; t < 4; ++t) w[t] = T(0);
    w[b & 3] = v[0];
    w[(b >> 2) & 3] = v[1];
    return;
  }
  const T* w = (const T*)c.w_in + e0;
  float s[4];
  for (int t = 0; t < 4; ++t) {
    const float a = to_f32(w[t]);
    s[t] = a < 0 ? -a : a;
    if (c.col_scale) s[t] = mul_rn(s[t], c.col_scale[col + t]);
  }
  const uint8_t b = sparse24_pick(s);
  if (op == Sparse24Op::Mask) {
    for (int t = 0; t < 4; ++t) c.mask[e0 + t] = (uint8_t)(t == (b & 3) || t == (b >> 2));
    return;
  }
  T* v = (T*)c.values_out + 2 * g;
  v[0] = w[b & 3];
  v[1] = w[b >> 2];
  c.meta_out[g] = b;
}

// One tao_linear_sparse24 call after validation.
struct Sparse24LinearCall {
  const void* x;        // dtype [m, k]
  const void* values;   // dtype [n, k/2]
  const uint8_t* meta;  // [n, k/4]
  const void* bias;     // dtype [n] or NULL
  void* y;              // dtype [m, n]
  int dtype;            // TAO_F32, TAO_F16 or TAO_BF16
  int64_t m, n, k;
};

// One tao_linear_cusparselt / tao_linear_int8_cusparselt call after validation.
struct SpltLinearCall {
  const void* x;         // bf16/f16 x, or int8 xq [m, k]
  const float* xscale;   // int8: [m]; else NULL
  const void* packed;    // tao_cusparselt_pack's buffer
  const float* wscale;   // int8: [n]; else NULL
  const void* bias;      // y's dtype [n] or NULL
  void* y;               // [m, n]
  int wdtype;            // TAO_BF16, TAO_F16 or TAO_I8
  int ydtype;            // TAO_BF16, TAO_F16 (= wdtype), or for int8 TAO_BF16, TAO_F16, TAO_F32
  int64_t m, n, k;
};

}  // namespace tao
