// The transformer ops behind tao_embedding, tao_rms_norm, tao_rope, tao_attention, tao_kv_append,
// tao_increment_i32, tao_binary(_rows), tao_argmax and tao_sample: validated call descriptions, the
// host/device math both backends share (RoPE angles, SiLU, the sampling keys) and the backend entry points.
#pragma once
#include <math.h>
#include <stdint.h>

#include "context.h"
#include "random.h"
#include "tao.h"

namespace tao {

// One tao_rope call after validation.
struct RopeCall {
  const void* x;
  void* y;
  int dtype;
  int64_t batch, seq, heads, head_dim;
  int64_t stride;            // elements between token rows of x and y (>= heads·head_dim)
  const int32_t* positions;  // [batch, seq] or NULL
  const int32_t* position;   // position buffer or NULL
  int64_t offset;
  double theta;
  int style;  // TAO_ROPE_*
};

// cos and sin (f32) of pair i's angle at position pos: pos · theta^(-2i / head_dim), all in f64.
TAO_HD void rope_cos_sin(int64_t pos, int64_t i, int64_t head_dim, double theta, float* c, float* s) {
  const double angle = (double)pos * pow(theta, -2.0 * (double)i / (double)head_dim);
  *c = (float)cos(angle);
  *s = (float)sin(angle);
}

// Offsets (in elements, within one head) of the two values of pair i.
TAO_HD void rope_pair(int style, int64_t i, int64_t head_dim, int64_t* a, int64_t* b) {
  *a = style == TAO_ROPE_INTERLEAVED ? 2 * i : i;
  *b = style == TAO_ROPE_INTERLEAVED ? 2 * i + 1 : i + head_dim / 2;
}

// The rotation of one pair: (x0·c − x1·s, x0·s + x1·c), each operation rounded, no fma.
TAO_HD void rope_rotate(float x0, float x1, float c, float s, float* y0, float* y1) {
  *y0 = sub_rn(mul_rn(x0, c), mul_rn(x1, s));
  *y1 = add_rn(mul_rn(x0, s), mul_rn(x1, c));
}

// One tao_attention call after validation (the fields of tao_attention_args).
struct AttentionCall {
  const void* q;
  const void* k;
  const void* v;
  void* out;
  int dtype;
  int64_t batch, q_len, kv_len, kv_capacity, q_heads, kv_heads, head_dim, q_offset;
  const int32_t* position;
  float scale;
  bool causal;
  int64_t q_stride;  // elements between token rows of q (>= q_heads·head_dim)
};

// One tao_kv_append call after validation.
struct KvAppendCall {
  const void* k;
  const void* v;
  void* k_cache;
  void* v_cache;
  int dtype;
  int64_t batch, seq, capacity, heads, head_dim;
  int64_t src_stride;  // elements between token rows of k and of v (>= heads·head_dim)
  const int32_t* position;
  int64_t offset;
};

// One tao_binary / tao_binary_rows call after validation: rows × cols elements, row r of each
// operand at r·stride (tao_binary: one row).
struct BinaryCall {
  int op;  // TAO_BINARY_*
  const void* a;
  const void* b;
  void* y;
  int dtype;
  int64_t rows, cols, a_stride, b_stride, y_stride;
};

// silu(a) · b in f32: a / (1 + exp(−a)) · b.
TAO_HD float silu_mul(float a, float b) { return mul_rn(div_rn(a, add_rn(1.0f, expf(-a))), b); }

// One tao_sample call after validation.
struct SampleCall {
  const void* logits;
  int dtype;
  int64_t rows, vocab;
  float temperature;  // > 0
  int64_t top_k;      // 1 .. vocab - 1, or 0: keep all
  uint64_t seed;
  const int32_t* position;
  int32_t* out;
};

// An order-preserving uint32 key of a float (larger float, larger key); NaN gets key 0, below -inf.
TAO_HD uint32_t float_order_key(float f) {
  const uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return 0;
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// The Gumbel-max score of logit x (already divided by the temperature) at Philox counter `counter`.
TAO_HD double gumbel_score(float x, uint64_t seed, uint64_t counter) {
  const Philox4 r = philox4x32_10(counter, seed);
  const double u = dmul(dadd((double)r.w[0], 0.5), 2.3283064365386963e-10);  // (w + 0.5) · 2^-32, in (0, 1)
  return dadd((double)x, -det_log(-det_log(u)));
}

namespace cpu {
tao_status embedding(const int32_t* ids, int64_t n, const void* table, int dtype, int64_t vocab, int64_t dim, void* out);
tao_status rms_norm(const void* x, const void* w, void* y, int dtype, int64_t rows, int64_t dim, float eps);
tao_status rope(const RopeCall& c);
tao_status attention(const AttentionCall& c);
tao_status kv_append(const KvAppendCall& c);
tao_status increment_i32(int32_t* p, int64_t n, int32_t delta);
tao_status binary(const BinaryCall& c);
tao_status argmax(const void* x, int dtype, int64_t rows, int64_t n, int32_t* out);
tao_status sample(const SampleCall& c);
}  // namespace cpu

#ifdef TAO_WITH_CUDA
namespace cuda {
tao_status embedding(tao_ctx* ctx, const int32_t* ids, int64_t n, const void* table, int dtype, int64_t vocab,
                     int64_t dim, void* out);
tao_status rms_norm(tao_ctx* ctx, const void* x, const void* w, void* y, int dtype, int64_t rows, int64_t dim, float eps);
tao_status rope(tao_ctx* ctx, const RopeCall& c);
tao_status attention(tao_ctx* ctx, const AttentionCall& c);
tao_status kv_append(tao_ctx* ctx, const KvAppendCall& c);
tao_status increment_i32(tao_ctx* ctx, int32_t* p, int64_t n, int32_t delta);
tao_status binary(tao_ctx* ctx, const BinaryCall& c);
tao_status argmax(tao_ctx* ctx, const void* x, int dtype, int64_t rows, int64_t n, int32_t* out);
tao_status sample(tao_ctx* ctx, const SampleCall& c);
}  // namespace cuda
#endif

}  // namespace tao
