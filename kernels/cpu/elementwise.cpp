// CPU tao_binary: parallel chunks of an elementwise loop, compiled per ISA.
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

template <int D>
void binary_chunk(int op, const void* a, const void* b, void* y, uint64_t lo, uint64_t hi) {
  if (op == TAO_BINARY_ADD) binary_range<D, TAO_BINARY_ADD>(a, b, y, lo, hi);
  else if (op == TAO_BINARY_MUL) binary_range<D, TAO_BINARY_MUL>(a, b, y, lo, hi);
  else binary_range<D, TAO_BINARY_SILU_MUL>(a, b, y, lo, hi);
}
}  // namespace

tao_status binary(int op, const void* a, const void* b, void* y, int dtype, uint64_t n) {
  parallel_for(n, 1 << 16, [&](uint64_t lo, uint64_t hi) { TAO_SWITCH_WIDE_FLOAT(dtype, D, binary_chunk<D>(op, a, b, y, lo, hi)); });
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
