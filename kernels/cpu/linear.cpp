// CPU tao_linear: y[m, n] = x[m, k] · w[n, k]ᵀ (+ bias[n]), f32 accumulation.
// Both operands have k contiguous, so every output is a dot product along k. The micro-kernel
// computes a 4 × 4 block of outputs with 16 independent 16-lane accumulators (one AVX-512 register
// each; two AVX2 registers), reading 4 rows of x and 4 rows of w once per 16 k. Work is split over
// threads by 64-row panels of w; f16/bf16 inputs are widened to f32 once (x up front, each w panel
// by the thread that owns it). The AVX-512 and AVX2 builds use FMA; the baseline build does not.
#include <algorithm>
#include <vector>

#include "../common/backend.h"
#include "../common/convert.h"
#include "../common/dtype_switch.h"
#include "parallel.h"

namespace tao {
namespace cpu {

namespace {

constexpr int MR = 4, NR = 4, L = 16;
constexpr int64_t kPanel = 64;  // rows of w per task

// out[a][b] = dot(x row a, w row b) over k, for the first mr rows of x and nr rows of w.
template <bool Fma>
TAO_INLINE void micro(const float* const* xr, const float* const* wr, int64_t k, float out[MR][NR]) {
  float acc[MR][NR][L] = {};
  int64_t kk = 0;
  for (; kk + L <= k; kk += L) {
    for (int a = 0; a < MR; ++a)
      for (int b = 0; b < NR; ++b)
        for (int l = 0; l < L; ++l) {
          const float p = xr[a][kk + l], q = wr[b][kk + l];
          acc[a][b][l] = Fma ? __builtin_fmaf(p, q, acc[a][b][l]) : acc[a][b][l] + p * q;
        }
  }
  for (int a = 0; a < MR; ++a)
    for (int b = 0; b < NR; ++b) {
      float s = 0.0f;
      for (int l = 0; l < L; ++l) s += acc[a][b][l];
      for (int64_t t = kk; t < k; ++t) s = Fma ? __builtin_fmaf(xr[a][t], wr[b][t], s) : s + xr[a][t] * wr[b][t];
      out[a][b] = s;
    }
}

// All m rows of x against rows [j0, j1) of w (f32 views), writing y through `store`.
template <bool Fma, class Store>
TAO_INLINE void panel(const float* x, const float* w, int64_t m, int64_t k, int64_t j0, int64_t j1, Store&& store) {
  float out[MR][NR];
  for (int64_t i = 0; i < m; i += MR) {
    const float* xr[MR];
    for (int a = 0; a < MR; ++a) xr[a] = x + std::min(i + a, m - 1) * k;  // edge rows repeat the last
    for (int64_t j = j0; j < j1; j += NR) {
      const float* wr[NR];
      for (int b = 0; b < NR; ++b) wr[b] = w + (std::min(j + b, j1 - 1) - j0) * k;
      micro<Fma>(xr, wr, k, out);
      for (int a = 0; a < MR && i + a < m; ++a)
        for (int b = 0; b < NR && j + b < j1; ++b) store(i + a, j + b, out[a][b]);
    }
  }
}

// One panel with the best micro-kernel for this CPU.
template <class Store>
__attribute__((target("avx512f,fma"))) void panel_avx512(const float* x, const float* w, int64_t m, int64_t k,
                                                         int64_t j0, int64_t j1, Store& store) {
  panel<true>(x, w, m, k, j0, j1, store);
}
template <class Store>
__attribute__((target("avx2,fma"))) void panel_avx2(const float* x, const float* w, int64_t m, int64_t k, int64_t j0,
                                                    int64_t j1, Store& store) {
  panel<true>(x, w, m, k, j0, j1, store);
}
template <class Store>
void panel_base(const float* x, const float* w, int64_t m, int64_t k, int64_t j0, int64_t j1, Store& store) {
  panel<false>(x, w, m, k, j0, j1, store);
}

int isa() {
  static const int level = __builtin_cpu_supports("avx512f") ? 2 : (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? 1 : 0;
  return level;
}

// f32 copy of rows [r0, r1) of a [rows, k] tensor of dtype D (no copy for f32).
template <int D>
const float* widen(const void* src, int64_t r0, int64_t r1, int64_t k, std::vector<float>& buf) {
  const auto* s = (const typename Dt<D>::T*)src + r0 * k;
  if constexpr (D == TAO_F32) {
    (void)r1, (void)buf;
    return s;
  } else {
    buf.resize((size_t)((r1 - r0) * k));
    for (size_t i = 0; i < buf.size(); ++i) buf[i] = Dt<D>::to_f32(s[i]);
    return buf.data();
  }
}

template <int D>
tao_status linear_as(const LinearCall& c) {
  using T = typename Dt<D>::T;
  std::vector<float> xbuf;
  const float* x = widen<D>(c.x, 0, c.m, c.k, xbuf);
  const T* bias = (const T*)c.bias;
  T* y = (T*)c.y;
  auto store = [&](int64_t i, int64_t j, float v) {
    y[i * c.n + j] = Dt<D>::from_f32(bias ? v + Dt<D>::to_f32(bias[j]) : v);
  };
  const uint64_t panels = (uint64_t)((c.n + kPanel - 1) / kPanel);
  parallel_for(panels, 1, [&](uint64_t p0, uint64_t p1) {
    std::vector<float> wbuf;
    for (uint64_t p = p0; p < p1; ++p) {
      const int64_t j0 = (int64_t)p * kPanel, j1 = std::min(c.n, j0 + kPanel);
      const float* w = widen<D>(c.w, j0, j1, c.k, wbuf);
      switch (isa()) {
        case 2: panel_avx512(x, w, c.m, c.k, j0, j1, store); break;
        case 1: panel_avx2(x, w, c.m, c.k, j0, j1, store); break;
        default: panel_base(x, w, c.m, c.k, j0, j1, store); break;
      }
    }
  });
  return TAO_OK;
}

}  // namespace

tao_status linear(const LinearCall& c) {
  tao_status s = TAO_OK;
  TAO_SWITCH_WIDE_FLOAT(c.dtype, D, s = linear_as<D>(c));
  return s;
}

}  // namespace cpu
}  // namespace tao
