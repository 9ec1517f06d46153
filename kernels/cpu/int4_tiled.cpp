// CPU pack / unpack / dequantize of the tinygemm int4 layout: one packed word per step
// (kernels/common/int4_tiled.h), words split over threads.
#include "../common/backend.h"
#include "../common/int4_tiled.h"
#include <algorithm>
#include <vector>

#include "parallel.h"

namespace tao {
namespace cpu {

tao_status int4_tiled(Int4Op op, const Int4TiledCall& c) {
  parallel_for((uint64_t)c.g.words, 1 << 14, [&](uint64_t b, uint64_t e) {
    for (uint64_t w = b; w < e; ++w) int4_tiled_step(op, c, (int64_t)w);
  });
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao

namespace tao {
namespace cpu {

// y = x · Wᵀ (+ bias) for a tensor-core-tiled int4 W without materializing it: per packed word,
// Σ x·q and Σ x over its 8 values, combined as s·Σxq + (z − 8s)·Σx (the word lies in one group).
// Parallel over tiles of 8 output columns; f32 accumulation.
tao_status int4_tiled_linear(const Int4LinearCall& c) {
  const Int4Tiled& g = c.g;
  const int64_t m = c.m, n = g.n, k = g.k, half = g.tiles / 2;
  std::vector<float> x((size_t)(m * k));
  for (size_t i = 0; i < x.size(); ++i) x[i] = bf16_to_f32(((const uint16_t*)c.x)[i]);
  const auto* packed = (const uint32_t*)c.packed;
  const auto* sz = (const uint16_t*)c.sz;
  const auto* bias = (const uint16_t*)c.bias;
  auto* y = (uint16_t*)c.y;
  parallel_for((uint64_t)(n / 8), 1, [&](uint64_t t0, uint64_t t1) {
    std::vector<float> acc((size_t)(m * 8));
    for (uint64_t nt = t0; nt < t1; ++nt) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int64_t w = (int64_t)nt * g.k_outer * 32 * half; w < ((int64_t)nt + 1) * g.k_outer * 32 * half; ++w) {
        int64_t n0, k0;
        int4_tiled_word(g, w, &n0, &k0);
        const uint16_t* qp = sz + ((k0 / c.group) * n + n0) * 2;
        const float s = bf16_to_f32(qp[0]), zc = bf16_to_f32(qp[1]) - 8.0f * s;
        const uint32_t word = packed[w];
        for (int64_t r = 0; r < m; ++r) {
          const float* xr = x.data() + r * k + k0;
          float dq = 0.0f, dx = 0.0f;
          for (int sl = 0; sl < 8; ++sl) {
            const float xv = xr[int4_tiled_kofs(sl)];
            dq += xv * (float)((word >> (4 * sl)) & 0xF);
            dx += xv;
          }
          acc[(size_t)(r * 8 + (n0 - (int64_t)nt * 8))] += s * dq + zc * dx;
        }
      }
      for (int64_t r = 0; r < m; ++r)
        for (int64_t j = 0; j < 8; ++j) {
          const int64_t col = (int64_t)nt * 8 + j;
          const float v = acc[(size_t)(r * 8 + j)] + (bias ? bf16_to_f32(bias[col]) : 0.0f);
          y[r * n + col] = f32_to_bf16(v);
        }
    }
  });
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
