// CPU pack / unpack / dequantize of the tinygemm int4 layout: one packed word per step
// (kernels/common/int4_tiled.h), words split over threads.
#include "../common/backend.h"
#include "../common/int4_tiled.h"
#include "parallel.h"

namespace tao {
namespace cpu {

tao_status int4_tiled(Int4Op op, const Int4TiledCall& c) {
  parallel_for((uint64_t)c.g.words, 1 << 14, [&](uint64_t b, uint64_t e) {
    for (uint64_t w = b; w < e; ++w) int4_tiled_step(op, c, (int64_t)w);
  });
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
