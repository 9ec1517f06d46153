// CPU tao_argmax and tao_sample, one row per task. Sampling: the k-th largest logit by
// nth_element over order keys, then the Gumbel-max rule over the kept logits with the shared
// host/device score (llama_ops.h), so CUDA picks the same token.
#include <algorithm>
#include <functional>
#include <vector>

#include "../common/convert.h"
#include "../common/dtype_switch.h"
#include "../common/llama_ops.h"
#include "parallel.h"

namespace tao {
namespace cpu {

namespace {
template <int D>
void argmax_rows(const void* x_, int64_t n, int32_t* out, uint64_t b, uint64_t e) {
  using T = typename Dt<D>::T;
  for (uint64_t r = b; r < e; ++r) {
    const T* x = (const T*)x_ + r * n;
    float best = Dt<D>::to_f32(x[0]);
    int64_t at = 0;
    for (int64_t j = 1; j < n && best == best; ++j) {
      const float v = Dt<D>::to_f32(x[j]);
      if (v != v || v > best) best = v, at = j;
    }
    out[r] = (int32_t)at;
  }
}

template <int D>
void sample_rows(const SampleCall& c, uint64_t b, uint64_t e) {
  using T = typename Dt<D>::T;
  const uint64_t step = (uint32_t)(c.position ? c.position[0] : 0);
  std::vector<uint32_t> keys(c.top_k ? c.vocab : 0);
  for (uint64_t r = b; r < e; ++r) {
    const T* x = (const T*)c.logits + r * c.vocab;
    uint32_t threshold = 1;  // keeps everything but NaN (key 0)
    if (c.top_k) {
      for (int64_t j = 0; j < c.vocab; ++j) keys[j] = float_order_key(Dt<D>::to_f32(x[j]));
      std::nth_element(keys.begin(), keys.begin() + (c.top_k - 1), keys.end(), std::greater<uint32_t>());
      threshold = std::max<uint32_t>(keys[c.top_k - 1], 1);
    }
    double best = -INFINITY;
    int64_t at = -1;
    for (int64_t j = 0; j < c.vocab; ++j) {
      const float v = Dt<D>::to_f32(x[j]);
      if (float_order_key(v) < threshold) continue;
      const double z = gumbel_score(div_rn(v, c.temperature), c.seed, (step * c.rows + r) * c.vocab + j);
      if (at < 0 || z > best) best = z, at = j;
    }
    c.out[r] = (int32_t)(at < 0 ? 0 : at);
  }
}
}  // namespace

tao_status argmax(const void* x, int dtype, int64_t rows, int64_t n, int32_t* out) {
  parallel_for((uint64_t)rows, 1 + (1u << 16) / (uint64_t)n, [&](uint64_t b, uint64_t e) {
    TAO_SWITCH_WIDE_FLOAT(dtype, D, argmax_rows<D>(x, n, out, b, e));
  });
  return TAO_OK;
}

tao_status sample(const SampleCall& c) {
  parallel_for((uint64_t)c.rows, 1, [&](uint64_t b, uint64_t e) { TAO_SWITCH_WIDE_FLOAT(c.dtype, D, sample_rows<D>(c, b, e)); });
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
