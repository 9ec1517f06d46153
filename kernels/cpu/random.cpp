// CPU tao_fill_random: element i = f(seed, offset + i) (kernels/common/random.h), so any split of
// the range over threads gives the same tensor, and the CUDA kernel gives the same bits.
#include "../common/backend.h"
#include "../common/convert.h"
#include "../common/dtype_switch.h"
#include "../common/random.h"
#include "parallel.h"

namespace tao {
namespace cpu {

namespace {
template <int D>
void random_range(void* dst, uint64_t b, uint64_t e, uint64_t seed, uint64_t offset, int dist,
                  double a, double c) {
  auto* d = (typename Dt<D>::T*)dst;
  for (uint64_t i = b; i < e; ++i) {
    const float v = dist == TAO_RANDOM_NORMAL ? random_normal(seed, offset + i, a, c)
                                              : random_uniform(seed, offset + i, a, c);
    d[i] = Dt<D>::from_f32(v);
  }
}
}  // namespace

tao_status fill_random(void* dst, int dtype, uint64_t n, uint64_t seed, uint64_t offset,
                       int distribution, double a, double b) {
  parallel_for(n, 1 << 14, [&](uint64_t lo, uint64_t hi) {
    TAO_SWITCH_FLOAT(dtype, D, random_range<D>(dst, lo, hi, seed, offset, distribution, a, b));
  });
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
