// GPTQ (tao_gptq_hessian, tao_gptq_factor, tao_gptq_quantize in include/tao.h): the validated calls,
// the per-element arithmetic both backends share (group parameters, rounding to `bits`-bit values, the
// act-order rank), and the backend entry points. The shared functions round every step as written, so
// given the same inputs the CPU and CUDA sweeps give the same bits.
#pragma once
#include <stdint.h>

#include "context.h"
#include "convert.h"
#include "hd.h"
#include "tao.h"

namespace tao {

constexpr int64_t kGptqMaxBlock = 256;    // largest block_size (the CUDA sweep keeps 8 values per lane)
constexpr int kGptqMaxBits = 8;           // widest values (u8 codes)

// The levels of `bits`-bit values (1..8): 0 .. max = 2^bits − 1 around mid = 2^(bits−1) (tinygemm's 8
// at 4 bits), as f32 (exact).
struct GptqLevels {
  float mid, max;
};
TAO_HD GptqLevels gptq_levels(int bits) { return {(float)(1 << (bits - 1)), (float)((1 << bits) - 1)}; }

// One tao_gptq_hessian call after validation: h = beta·h + alpha·xᵀx.
struct GptqHessianCall {
  const void* x;  // [rows, k] of dtype
  int dtype;
  int64_t rows, k;
  float* h;       // [k, k]
  float alpha, beta;
};

// One tao_gptq_factor call after validation.
struct GptqFactorCall {
  const float* h;  // [k, k]
  int64_t k;
  double percdamp;
  bool act_order;
  int32_t* perm;   // [k] or NULL (only without act_order)
  float* u;        // [k, k]
  int32_t* info;   // [1]
};

// One tao_gptq_quantize call after validation (the fields of tao_gptq_args).
struct GptqSweepCall {
  const void* w;  // [n, k] of w_dtype
  int w_dtype;
  const float* h;       // [k, k], diagonal only
  const float* u;       // [k, k]
  const int32_t* perm;  // [k] or NULL
  int64_t n, k, group, block;
  bool static_groups;
  int bits;       // 1..8
  uint8_t* q;     // [n, k]
  float* scale;   // [n, k / group]
  float* zero;    // [n, k / group]
};

// x rounded to the nearest bf16 (ties to even), as an f32.
TAO_HD float gptq_bf16(float x) { return bf16_to_f32(f32_to_bf16(x)); }

// Round-to-nearest parameters of a group with minimum mn and maximum mx (int4_groups.ts's rtnParams at
// 4 bits): s = bf16(max((mx − mn) / max, 1e-6)), z = bf16(mn + mid·s).
TAO_HD void gptq_group_params(GptqLevels lv, float mn, float mx, float* s, float* z) {
  const float d = div_rn(sub_rn(mx, mn), lv.max);
  *s = gptq_bf16(d > 1e-6f ? d : 1e-6f);
  *z = gptq_bf16(add_rn(mn, mul_rn(lv.mid, *s)));
}

// The value of x: clamp(round((x − z) / s + mid), 0, max), halves rounded up (as JavaScript's
// Math.round for the values that survive the clamp); NaN gives 0.
TAO_HD uint8_t gptq_code(GptqLevels lv, float x, float s, float z) {
  const float v = add_rn(div_rn(sub_rn(x, z), s), lv.mid);
#if defined(__CUDA_ARCH__)
  const float r = roundf(v);
#else
  const float r = __builtin_roundf(v);
#endif
  return r > 0.0f ? (uint8_t)(r < lv.max ? r : lv.max) : (uint8_t)0;
}

// (q − mid)·s + z, uintx's FLOAT form fma(q − mid, s, z) (the product is exact: |q − mid| ≤ 128 and s
// has 8 significant bits).
TAO_HD float gptq_dequant(GptqLevels lv, uint8_t q, float s, float z) { return add_rn(mul_rn(sub_rn((float)q, lv.mid), s), z); }

// The Hessian diagonal entry j as GPTQ uses it: a dead input (h_jj = 0) counts as 1.
TAO_HD float gptq_diag(const float* h, int64_t k, int64_t j) {
  const float d = h[j * k + j];
  return d == 0.0f ? 1.0f : d;
}

// Position of column i in the act-order (decreasing diagonal, ties by index): the number of columns
// with a larger diagonal, plus the equal ones before i.
TAO_HD int64_t gptq_rank(const float* h, int64_t k, int64_t i) {
  const float di = gptq_diag(h, k, i);
  int64_t r = 0;
  for (int64_t j = 0; j < k; ++j) {
    const float dj = gptq_diag(h, k, j);
    r += (dj > di || (dj == di && j < i)) ? 1 : 0;
  }
  return r;
}

// percdamp · mean of the diagonal (dead inputs counted as 1), summed in f64 in index order.
TAO_HD double gptq_damp(const float* h, int64_t k, double percdamp) {
  double sum = 0.0;
  for (int64_t j = 0; j < k; ++j) sum = dadd(sum, (double)gptq_diag(h, k, j));
  return dmul(percdamp, ddiv(sum, (double)k));
}

// Entry (i, j) of the matrix the factorization runs on: the permuted, dead-fixed, damped Hessian
// with its order reversed (row i is quantization position k − 1 − i), so the lower Cholesky factor M
// of it gives U = J·M⁻¹·J (J the reversal).
TAO_HD double gptq_factor_input(const float* h, int64_t k, const int32_t* perm, double damp, int64_t i, int64_t j) {
  const int64_t a = k - 1 - i, b = k - 1 - j;
  const int64_t ca = perm ? perm[a] : a, cb = perm ? perm[b] : b;
  return ca == cb ? dadd((double)gptq_diag(h, k, ca), damp) : (double)h[ca * k + cb];
}

namespace cpu {
tao_status gptq_hessian(const GptqHessianCall& c);
tao_status gptq_factor(const GptqFactorCall& c);
tao_status gptq_quantize(const GptqSweepCall& c);
}  // namespace cpu

#ifdef TAO_WITH_CUDA
namespace cuda {
tao_status gptq_hessian(tao_ctx* ctx, const GptqHessianCall& c);
tao_status gptq_factor(tao_ctx* ctx, const GptqFactorCall& c);
tao_status gptq_quantize(tao_ctx* ctx, const GptqSweepCall& c);
}  // namespace cuda
#endif

}  // namespace tao
