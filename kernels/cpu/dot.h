// Σ a[p]·b[p] with a fixed summation order shared by the CPU kernels that need a plain dot product.
#pragma once
#include <stdint.h>

namespace tao {
namespace cpu {

// Σ_{p < n} a[p]·b[p] in 8 interleaved partial sums (so the loop vectorizes), combined pairwise.
template <class T>
inline T dot8(const T* a, const T* b, int64_t n) {
  T s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t p = 0;
  for (; p + 8 <= n; p += 8)
    for (int l = 0; l < 8; ++l) s[l] += a[p + l] * b[p + l];
  for (; p < n; ++p) s[0] += a[p] * b[p];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

}  // namespace cpu
}  // namespace tao
