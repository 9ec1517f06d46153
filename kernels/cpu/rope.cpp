// CPU tao_rope: one token (b, t) per task; its cos/sin per pair are computed once (f64, shared code
// with CUDA in llama_ops.h) and applied to every head.
#include <vector>

#include "../common/convert.h"
#include "../common/dtype_switch.h"
#include "../common/llama_ops.h"
#include "parallel.h"

namespace tao {
namespace cpu {

namespace {
template <int D>
void rope_tokens(const RopeCall& c, uint64_t b, uint64_t e) {
  using T = typename Dt<D>::T;
  const int64_t pairs = c.head_dim / 2;
  std::vector<float> cs(pairs), sn(pairs);
  const int64_t base = (c.position ? c.position[0] : 0) + c.offset;
  for (uint64_t tok = b; tok < e; ++tok) {
    const int64_t pos = c.positions ? c.positions[tok] : base + (int64_t)(tok % c.seq);
    for (int64_t i = 0; i < pairs; ++i) rope_cos_sin(pos, i, c.head_dim, c.theta, &cs[i], &sn[i]);
    for (int64_t h = 0; h < c.heads; ++h) {
      const uint64_t row = tok * c.stride + h * c.head_dim;
      const T* x = (const T*)c.x + row;
      T* y = (T*)c.y + row;
      for (int64_t i = 0; i < pairs; ++i) {
        int64_t ia, ib;
        rope_pair(c.style, i, c.head_dim, &ia, &ib);
        float y0, y1;
        rope_rotate(Dt<D>::to_f32(x[ia]), Dt<D>::to_f32(x[ib]), cs[i], sn[i], &y0, &y1);
        y[ia] = Dt<D>::from_f32(y0);
        y[ib] = Dt<D>::from_f32(y1);
      }
    }
  }
}
}  // namespace

tao_status rope(const RopeCall& c) {
  const uint64_t tokens = (uint64_t)(c.batch * c.seq);
  parallel_for(tokens, 1 + (1u << 14) / (uint64_t)(c.heads * c.head_dim), [&](uint64_t b, uint64_t e) {
    TAO_SWITCH_WIDE_FLOAT(c.dtype, D, rope_tokens<D>(c, b, e));
  });
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
