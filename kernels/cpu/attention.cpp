// CPU tao_attention: one (batch, query, head) row per task: scores in f32 (dot products in 8
// partial sums), a two-pass softmax (max, then exp and sum), the weighted sum of v in f32. q's token
// rows are q_stride apart; out is contiguous.
#include <math.h>

#include <algorithm>
#include <vector>

#include "../common/convert.h"
#include "../common/dtype_switch.h"
#include "../common/llama_ops.h"
#include "dot.h"
#include "parallel.h"

namespace tao {
namespace cpu {

namespace {

template <int D>
void to_f32(const typename Dt<D>::T* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = Dt<D>::to_f32(src[i]);
}

template <int D>
void attention_rows(const AttentionCall& c, uint64_t b, uint64_t e) {
  using T = typename Dt<D>::T;
  const int64_t dh = c.head_dim, group = c.q_heads / c.kv_heads;
  const int64_t base = c.q_offset + (c.position ? c.position[0] : 0);
  std::vector<float> q(dh), kv(dh), acc(dh), p(c.kv_len);
  for (uint64_t row = b; row < e; ++row) {
    const int64_t h = row % c.q_heads, t = (row / c.q_heads) % c.q_len, bi = row / (c.q_heads * c.q_len);
    const int64_t lim = c.causal ? std::min(c.kv_len, std::max<int64_t>(base + t + 1, 0)) : c.kv_len;
    T* out = (T*)c.out + row * dh;
    to_f32<D>((const T*)c.q + (uint64_t)(bi * c.q_len + t) * c.q_stride + h * dh, q.data(), dh);
    const uint64_t kv_row0 = (uint64_t)bi * c.kv_capacity * c.kv_heads + h / group;
    float m = -INFINITY;
    for (int64_t s = 0; s < lim; ++s) {
      to_f32<D>((const T*)c.k + (kv_row0 + (uint64_t)s * c.kv_heads) * dh, kv.data(), dh);
      p[s] = dot8(q.data(), kv.data(), dh) * c.scale;
      m = std::max(m, p[s]);
    }
    std::fill(acc.begin(), acc.end(), 0.0f);
    float l = 0;
    for (int64_t s = 0; s < lim; ++s) {
      const float w = expf(p[s] - m);
      l += w;
      to_f32<D>((const T*)c.v + (kv_row0 + (uint64_t)s * c.kv_heads) * dh, kv.data(), dh);
      for (int64_t d = 0; d < dh; ++d) acc[d] += w * kv[d];
    }
    for (int64_t d = 0; d < dh; ++d) out[d] = Dt<D>::from_f32(lim > 0 ? acc[d] / l : 0.0f);
  }
}
}  // namespace

tao_status attention(const AttentionCall& c) {
  const uint64_t rows = (uint64_t)(c.batch * c.q_len * c.q_heads);
  parallel_for(rows, 1 + (1u << 16) / (uint64_t)(c.kv_len * c.head_dim), [&](uint64_t b, uint64_t e) {
    TAO_SWITCH_WIDE_FLOAT(c.dtype, D, attention_rows<D>(c, b, e));
  });
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
