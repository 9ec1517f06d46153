// CPU 2:4 sparsity helpers: mask / compress / decompress (one group of 4 per step, the rule of
// common/sparse24.h), masking in place and Wanda's column sums of squares. Multithreaded over groups
// (rows for the column sums: each thread sums a block of rows into its own f32 partials, added in
// thread order, so the result does not depend on scheduling for a given thread count).
#include <string.h>

#include <vector>

#include "../common/backend.h"
#include "../common/convert.h"
#include "../common/dtype_switch.h"
#include "parallel.h"

namespace tao {
namespace cpu {

namespace {

template <int D>
void groups(Sparse24Op op, const Sparse24Call& c) {
  using T = typename Dt<D>::T;
  parallel_for((uint64_t)(c.n * (c.k / 4)), 4096, [&](uint64_t b, uint64_t e) {
    for (uint64_t g = b; g < e; ++g) sparse24_group<T>(op, c, (int64_t)g, [](T v) { return Dt<D>::to_f32(v); });
  });
}

template <class T>
void zero_masked(T* x, const uint8_t* mask, uint64_t numel) {
  parallel_for(numel, 1 << 16, [&](uint64_t b, uint64_t e) {
    for (uint64_t i = b; i < e; ++i) x[i] = mask[i] ? x[i] : T(0);
  });
}

// column_sq_sum for dtype D: each of `threads` row blocks into its own partials, then added in block order.
template <int D>
void column_sq_sum_as(const void* x, float* acc, int64_t m, int64_t k) {
  const auto* xs = (const typename Dt<D>::T*)x;
  const int threads = max_threads();
  const int64_t per = (m + threads - 1) / threads;
  std::vector<float> part((size_t)(threads * k), 0.0f);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int t = 0; t < threads; ++t) {
    float* p = part.data() + (int64_t)t * k;
    for (int64_t i = t * per; i < m && i < (t + 1) * per; ++i)
      for (int64_t j = 0; j < k; ++j) {
        const float v = Dt<D>::to_f32(xs[i * k + j]);
        p[j] = add_rn(p[j], mul_rn(v, v));
      }
  }
  for (int64_t j = 0; j < k; ++j) {
    float s = 0.0f;
    for (int t = 0; t < threads; ++t) s = add_rn(s, part[(size_t)(t * k + j)]);
    acc[j] = add_rn(acc[j], s);
  }
}

}  // namespace

tao_status sparse24(Sparse24Op op, const Sparse24Call& c) {
  if (c.dtype == TAO_I8) groups<TAO_I8>(op, c);
  else TAO_SWITCH_WIDE_FLOAT(c.dtype, D, groups<D>(op, c));
  return TAO_OK;
}

tao_status apply_mask(void* x, int elem_size, const uint8_t* mask, uint64_t numel) {
  if (elem_size == 4) zero_masked((uint32_t*)x, mask, numel);
  else if (elem_size == 2) zero_masked((uint16_t*)x, mask, numel);
  else zero_masked((uint8_t*)x, mask, numel);
  return TAO_OK;
}

tao_status column_sq_sum(const void* x, int dtype, float* acc, int64_t m, int64_t k) {
  TAO_SWITCH_WIDE_FLOAT(dtype, D, column_sq_sum_as<D>(x, acc, m, k));
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
