// CPU tao_rms_norm: one row per task; the sum of squares in 8 f32 partial sums (fixed order, so it
// vectorizes without reassociation), then y = x · inv · w rounded once.
#include <math.h>

#include "../common/convert.h"
#include "../common/dtype_switch.h"
#include "../common/llama_ops.h"
#include "parallel.h"

namespace tao {
namespace cpu {

namespace {
template <int D>
TAO_CPU_CLONES void rms_norm_rows(const void* x_, const void* w_, void* y_, int64_t dim, float eps, uint64_t b, uint64_t e) {
  using T = typename Dt<D>::T;
  const T* x = (const T*)x_;
  const T* w = (const T*)w_;
  T* y = (T*)y_;
  for (uint64_t r = b; r < e; ++r) {
    const T* xr = x + r * dim;
    float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t j = 0;
    for (; j + 8 <= dim; j += 8)
      for (int u = 0; u < 8; ++u) {
        const float v = Dt<D>::to_f32(xr[j + u]);
        part[u] += v * v;
      }
    for (; j < dim; ++j) {
      const float v = Dt<D>::to_f32(xr[j]);
      part[0] += v * v;
    }
    const float ss = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    const float inv = 1.0f / sqrtf(ss / (float)dim + eps);
    for (int64_t c = 0; c < dim; ++c) y[r * dim + c] = Dt<D>::from_f32((Dt<D>::to_f32(xr[c]) * inv) * Dt<D>::to_f32(w[c]));
  }
}
}  // namespace

tao_status rms_norm(const void* x, const void* w, void* y, int dtype, int64_t rows, int64_t dim, float eps) {
  parallel_for((uint64_t)rows, 1 + (1u << 14) / (uint64_t)dim, [&](uint64_t b, uint64_t e) {
    TAO_SWITCH_WIDE_FLOAT(dtype, D, rms_norm_rows<D>(x, w, y, dim, eps, b, e));
  });
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
