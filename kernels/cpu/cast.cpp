// CPU tao_cast and tao_fill: elementwise dtype conversion over contiguous buffers, parallel
// chunks, each chunk a vectorizable loop compiled per ISA.
#include "../common/backend.h"
#include "../common/convert.h"
#include "../common/dtype_switch.h"
#include "parallel.h"

namespace tao {
namespace cpu {

namespace {
template <int S, int D>
TAO_INLINE void cast_range(const void* src, void* dst, uint64_t b, uint64_t e) {
  const auto* s = (const typename Dt<S>::T*)src;
  auto* d = (typename Dt<D>::T*)dst;
  for (uint64_t i = b; i < e; ++i) d[i] = cast_value<S, D>(s[i]);
}

TAO_CPU_CLONES void cast_chunk(const void* src, int sdt, void* dst, int ddt, uint64_t b,
                               uint64_t e) {
  TAO_SWITCH_ALL(sdt, S, TAO_SWITCH_ALL(ddt, D, cast_range<S, D>(src, dst, b, e)));
}

template <int D>
TAO_INLINE void fill_range(void* dst, float value, uint64_t b, uint64_t e) {
  auto* d = (typename Dt<D>::T*)dst;
  const auto v = Dt<D>::from_f32(value);
  for (uint64_t i = b; i < e; ++i) d[i] = v;
}
}  // namespace

tao_status cast(const void* src, int src_dtype, void* dst, int dst_dtype, uint64_t n) {
  parallel_for(n, 1 << 16, [&](uint64_t b, uint64_t e) {
    cast_chunk(src, src_dtype, dst, dst_dtype, b, e);
  });
  return TAO_OK;
}

tao_status fill(void* dst, int dtype, uint64_t n, float value) {
  parallel_for(n, 1 << 18, [&](uint64_t b, uint64_t e) {
    TAO_SWITCH_ALL(dtype, D, fill_range<D>(dst, value, b, e));
  });
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
