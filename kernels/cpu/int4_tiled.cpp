// CPU pack / unpack / dequantize of the tinygemm int4 layout: one packed word per step
// (kernels/common/int4_tiled.h), words split over threads.
#include "../common/backend.h"
#include "../common/int4_tiled.h"
#include "parallel.h"

namespace tao {
namespace cpu {

tao_status int4_tiled(Int4Op op, const Int4TiledCall& c) {
  parallel_for((uint64_t)c.g.words, 1 << 14, [&](uint64_t b, uint64_t e) {
    for (uint64_t w = b; w < e; ++w) {
      if (op == Int4Op::Pack) {
        ((uint32_t*)c.dst)[w] = int4_tiled_pack_word(c.g, (const uint8_t*)c.src, (int64_t)w);
      } else if (op == Int4Op::Unpack) {
        int4_tiled_unpack_word(c.g, ((const uint32_t*)c.src)[w], (uint8_t*)c.dst, (int64_t)w);
      } else {
        int4_tiled_dequant_word(c.g, ((const uint32_t*)c.src)[w], (const uint16_t*)c.sz, c.group, (uint16_t*)c.dst,
                                (int64_t)w);
      }
    }
  });
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
