// NF4 (QLoRA's 4-bit NormalFloat) arithmetic shared by the CPU and CUDA backends, so both compute
// the same bits (the format is defined in include/tao.h, tao_nf4_quantize and friends).
#pragma once
#include <stdint.h>

#include "convert.h"
#include "hd.h"
#include "tao.h"

namespace tao {

constexpr int64_t kNf4Block = 64;         // weights per absmax
constexpr int64_t kNf4ScaleGroup = 256;   // absmax per double-quantization group

// The 16 NF4 levels (bitsandbytes' table, include/tao.h), for initializing each backend's table.
#define TAO_NF4_CODES                                                                                         \
  -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,           \
      -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f,         \
      0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, \
      1.0f

// The code nearest to x (x = w / absmax in [-1, 1]) given the 16 ascending code values: the number of
// midpoints below x, so halfway goes to the lower code; NaN compares false everywhere and is mapped to 0.
TAO_HD int nf4_encode(float x, const float* code) {
  if (x != x) return 7;
  int q = 0;
  for (int i = 0; i < 15; ++i) q += x > mul_rn(add_rn(code[i], code[i + 1]), 0.5f) ? 1 : 0;
  return q;
}

// Quantizes one block of 64 values of dtype D: codes[t] = the code nearest v[t] / absmax; returns absmax
// (max |v|, NaN ignored).
template <int D>
TAO_HD float nf4_quantize_block(const typename Dt<D>::T* v, const float* code, uint8_t* codes) {
  float amax = 0.0f;
  for (int t = 0; t < kNf4Block; ++t) {
    const float a = abs_f(Dt<D>::to_f32(v[t]));
    amax = a > amax ? a : amax;
  }
  for (int t = 0; t < kNf4Block; ++t) codes[t] = (uint8_t)nf4_encode(amax > 0.0f ? div_rn(Dt<D>::to_f32(v[t]), amax) : 0.0f, code);
  return amax;
}

// The f32 absmax of a block's scale after double quantization.
TAO_HD float nf4_block_scale(int8_t q, float scale2, float offset) { return fma_f((float)q, scale2, offset); }

// Double-quantizes absmax[b0, b1) (one group): offset, scale2 and the i8 codes, as tao.h defines them.
TAO_HD void nf4_double_quantize(const float* absmax, int64_t b0, int64_t b1, int8_t* qscale, float* scale2, float* offset) {
  double sum = 0.0;
  for (int64_t b = b0; b < b1; ++b) sum = dadd(sum, (double)absmax[b]);
  const float off = (float)ddiv(sum, (double)(b1 - b0));
  float amax = 0.0f;
  for (int64_t b = b0; b < b1; ++b) {
    const float d = abs_f(sub_rn(absmax[b], off));
    amax = d > amax ? d : amax;
  }
  const float s2 = div_rn(amax, 127.0f);
  for (int64_t b = b0; b < b1; ++b) {
    float q = s2 > 0.0f ? rint_f(div_rn(sub_rn(absmax[b], off), s2)) : 0.0f;
    q = q > 127.0f ? 127.0f : q < -127.0f ? -127.0f : q;
    qscale[b] = (int8_t)q;
  }
  *scale2 = s2;
  *offset = off;
}

}  // namespace tao
