// CPU tao_gptq_quantize: the rows are independent, one task per row range. Each row is copied (in perm
// order, dead columns zeroed) to an f32 buffer and swept block by block with the arithmetic of
// include/tao.h, in the CUDA kernels' order: in-block updates one fused multiply-add per column, the
// update of the later columns summed over the block's columns first (as the GEMM does), then
// subtracted once. Same bits as the CUDA backend.
#include <vector>

#include "../common/convert.h"
#include "../common/dtype_switch.h"
#include "../common/gptq.h"
#include "../common/status.h"
#include "parallel.h"

namespace tao {
namespace cpu {

namespace {

// Min and max of v[0, n).
inline void min_max(const float* v, int64_t n, float* mn, float* mx) {
  float lo = v[0], hi = v[0];
  for (int64_t t = 1; t < n; ++t) {
    lo = v[t] < lo ? v[t] : lo;
    hi = v[t] > hi ? v[t] : hi;
  }
  *mn = lo;
  *mx = hi;
}

// Rows [r0, r1) of the sweep.
template <int D>
TAO_CPU_CLONES void sweep_rows(const GptqSweepCall& c, uint64_t r0, uint64_t r1) {
  const int64_t k = c.k, groups = k / c.group;
  const GptqLevels lv = gptq_levels(c.bits);
  const auto* w = (const typename Dt<D>::T*)c.w;
  std::vector<float> orig((size_t)k), row((size_t)k), acc((size_t)k), err((size_t)c.block);
  for (uint64_t r = r0; r < r1; ++r) {
    float* scale = c.scale + r * groups;
    float* zero = c.zero + r * groups;
    uint8_t* q = c.q + r * k;
    for (int64_t j = 0; j < k; ++j) orig[j] = c.h[j * k + j] == 0.0f ? 0.0f : Dt<D>::to_f32(w[r * k + j]);
    for (int64_t i = 0; i < k; ++i) row[i] = orig[c.perm ? c.perm[i] : i];
    if (c.static_groups) {
      for (int64_t g = 0; g < groups; ++g) {
        float mn, mx;
        min_max(orig.data() + g * c.group, c.group, &mn, &mx);
        gptq_group_params(lv, mn, mx, scale + g, zero + g);
      }
    }
    for (int64_t i1 = 0; i1 < k; i1 += c.block) {
      const int64_t i2 = i1 + c.block < k ? i1 + c.block : k;
      for (int64_t i = i1; i < i2; ++i) {
        const int64_t col = c.perm ? c.perm[i] : i, g = col / c.group;
        if (!c.static_groups && i % c.group == 0) {
          float mn, mx;
          min_max(row.data() + i, c.group, &mn, &mx);
          gptq_group_params(lv, mn, mx, scale + g, zero + g);
        }
        const float x = row[i];
        const uint8_t code = gptq_code(lv, x, scale[g], zero[g]);
        q[col] = code;
        const float e = div_rn(sub_rn(x, gptq_dequant(lv, code, scale[g], zero[g])), c.u[i * k + i]);
        err[i - i1] = e;
        const float* ui = c.u + i * k;
        for (int64_t j = i + 1; j < i2; ++j) row[j] = fma_f(-e, ui[j], row[j]);
      }
      if (i2 == k) continue;
      for (int64_t j = i2; j < k; ++j) acc[j] = 0.0f;
      for (int64_t i = i1; i < i2; ++i) {
        const float e = err[i - i1];
        const float* ui = c.u + i * k;
        for (int64_t j = i2; j < k; ++j) acc[j] = fma_f(e, ui[j], acc[j]);
      }
      for (int64_t j = i2; j < k; ++j) row[j] = sub_rn(row[j], acc[j]);
    }
  }
}

}  // namespace

tao_status gptq_quantize(const GptqSweepCall& c) {
  if (c.perm) {
    std::vector<bool> seen((size_t)c.k);
    for (int64_t i = 0; i < c.k; ++i) {
      const int32_t p = c.perm[i];
      if (p < 0 || p >= c.k || seen[p])
        return fail(TAO_ERR_INVALID_ARGUMENT, "tao_gptq_quantize", "perm is not a permutation of 0..%lld (perm[%lld] = %d)",
                    (long long)(c.k - 1), (long long)i, p);
      seen[p] = true;
    }
  }
  // A row is about k² / 2 multiply-adds; at least 2^16 per parallel chunk.
  const uint64_t grain = 1 + (1u << 16) / (uint64_t)(c.k * c.k / 2 + 1);
  TAO_SWITCH_WIDE_FLOAT(c.w_dtype, D, parallel_for((uint64_t)c.n, grain, [&](uint64_t r0, uint64_t r1) { sweep_rows<D>(c, r0, r1); }));
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
