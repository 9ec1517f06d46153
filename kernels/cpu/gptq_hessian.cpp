// CPU tao_gptq_hessian: h = beta·h + alpha·xᵀx, one output row i per task; the sums run over the input
// rows t in order with fused multiply-adds (vectorized over j), the same order as the CUDA GEMM, so both
// backends give the same bits.
#include <vector>

#include "../common/convert.h"
#include "../common/dtype_switch.h"
#include "../common/gptq.h"
#include "parallel.h"

namespace tao {
namespace cpu {

namespace {

// Rows [i0, i1) of h, from x widened to f32 (xf [rows, k]).
TAO_CPU_CLONES void hessian_rows(const GptqHessianCall& c, const float* xf, uint64_t i0, uint64_t i1) {
  const int64_t k = c.k;
  std::vector<float> acc((size_t)k);
  for (uint64_t i = i0; i < i1; ++i) {
    for (int64_t j = 0; j < k; ++j) acc[j] = 0.0f;
    for (int64_t t = 0; t < c.rows; ++t) {
      const float* row = xf + t * k;
      const float xi = row[i];
      for (int64_t j = 0; j < k; ++j) acc[j] = fma_f(xi, row[j], acc[j]);
    }
    float* h = c.h + (int64_t)i * k;
    for (int64_t j = 0; j < k; ++j) h[j] = c.beta == 0.0f ? mul_rn(c.alpha, acc[j]) : fma_f(c.alpha, acc[j], mul_rn(c.beta, h[j]));
  }
}

template <int D>
std::vector<float> widen(const GptqHessianCall& c) {
  const auto* x = (const typename Dt<D>::T*)c.x;
  std::vector<float> out((size_t)(c.rows * c.k));
  for (size_t e = 0; e < out.size(); ++e) out[e] = Dt<D>::to_f32(x[e]);
  return out;
}

}  // namespace

tao_status gptq_hessian(const GptqHessianCall& c) {
  std::vector<float> xf;
  TAO_SWITCH_WIDE_FLOAT(c.dtype, D, xf = widen<D>(c));
  // At least 2^16 multiply-adds per parallel chunk (a parallel region costs more than fewer).
  parallel_for((uint64_t)c.k, 1 + (1u << 16) / (uint64_t)(c.rows * c.k), [&](uint64_t i0, uint64_t i1) { hessian_rows(c, xf.data(), i0, i1); });
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
