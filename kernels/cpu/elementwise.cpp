// CPU tao_binary and tao_binary_rows: parallel chunks of the rows × cols elements, each row's part
// an elementwise loop compiled per ISA.
#include <algorithm>

#include "../common/convert.h"
#include "../common/dtype_switch.h"
#include "../common/llama_ops.h"
#include "parallel.h"

namespace tao {
namespace cpu {

namespace {
template <int D, int OP>
TAO_CPU_CLONES void binary_range(const void* a_, const void* b_, void* y_, uint64_t b, uint64_t e) {
  using T = typename Dt<D>::T;
  const T* a = (const T*)a_;
  const T* bb = (const T*)b_;
  T* y = (T*)y_;
  for (uint64_t i = b; i < e; ++i) {
    const float x = Dt<D>::to_f32(a[i]), z = Dt<D>::to_f32(bb[i]);
    y[i] = Dt<D>::from_f32(OP == TAO_BINARY_ADD ? x + z : OP == TAO_BINARY_MUL ? x * z : silu_mul(x, z));
  }
}

// Elements [lo, hi) of the rows × cols index space, one row's segment at a time.
template <int D>
void binary_chunk(const BinaryCall& c, uint64_t lo, uint64_t hi) {
  using T = typename Dt<D>::T;
  const uint64_t cols = (uint64_t)c.cols;
  for (uint64_t i = lo; i < hi;) {
    const uint64_t r = i / cols, j = i % cols, end = std::min(hi, (r + 1) * cols);
    const T* a = (const T*)c.a + r * c.a_stride;
    const T* b = (const T*)c.b + r * c.b_stride;
    T* y = (T*)c.y + r * c.y_stride;
    const uint64_t j1 = j + (end - i);
    if (c.op == TAO_BINARY_ADD) binary_range<D, TAO_BINARY_ADD>(a, b, y, j, j1);
    else if (c.op == TAO_BINARY_MUL) binary_range<D, TAO_BINARY_MUL>(a, b, y, j, j1);
    else binary_range<D, TAO_BINARY_SILU_MUL>(a, b, y, j, j1);
    i = end;
  }
}
}  // namespace

tao_status binary(const BinaryCall& c) {
  parallel_for((uint64_t)(c.rows * c.cols), 1 << 16, [&](uint64_t lo, uint64_t hi) {
    TAO_SWITCH_WIDE_FLOAT(c.dtype, D, binary_chunk<D>(c, lo, hi));
  });
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
