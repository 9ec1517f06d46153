// CPU tao_strided_copy: gathers a strided view into a contiguous buffer. Rows of the innermost
// dimension are copied in a tight loop; the outer index is decoded once per row.
#include <cstring>

#include "../common/backend.h"
#include "parallel.h"

namespace tao {
namespace cpu {

namespace {
template <class T>
void copy_rows(const T* src, T* dst, const StridedCopy& sc, uint64_t rb, uint64_t re) {
  const int last = sc.ndim - 1;
  const int64_t inner = sc.shape[last], istride = sc.strides[last];
  for (uint64_t r = rb; r < re; ++r) {
    int64_t off = 0;
    uint64_t rem = r;
    for (int d = last - 1; d >= 0; --d) {
      off += (int64_t)(rem % (uint64_t)sc.shape[d]) * sc.strides[d];
      rem /= (uint64_t)sc.shape[d];
    }
    const T* s = src + off;
    T* o = dst + r * (uint64_t)inner;
    if (istride == 1) {
      std::memcpy(o, s, (size_t)inner * sizeof(T));
    } else {
      for (int64_t i = 0; i < inner; ++i) o[i] = s[i * istride];
    }
  }
}
}  // namespace

tao_status strided_copy(const void* src, void* dst, const StridedCopy& sc) {
  const uint64_t rows = sc.numel / (uint64_t)sc.shape[sc.ndim - 1];
  const uint64_t grain = std::max<uint64_t>(1, (1 << 16) / (uint64_t)sc.shape[sc.ndim - 1]);
  parallel_for(rows, grain, [&](uint64_t b, uint64_t e) {
    switch (sc.elem_size) {
      case 1: copy_rows((const uint8_t*)src, (uint8_t*)dst, sc, b, e); break;
      case 2: copy_rows((const uint16_t*)src, (uint16_t*)dst, sc, b, e); break;
      default: copy_rows((const uint32_t*)src, (uint32_t*)dst, sc, b, e); break;
    }
  });
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
