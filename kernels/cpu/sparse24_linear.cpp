// CPU tao_linear_sparse24: y[m, n] = x[m, k] · Wᵀ (+ bias) for a compressed 2:4 W (values + meta),
// doing only the k/2 products of the kept values per output.
//
// The kept values of a weight row sit at k positions that differ from row to row, so the kernel
// vectorizes over m instead of k: x is transposed once per block of rows into xt [k][mp] (f32,
// mp the block's rows rounded up to the tile width, zeros past m), so x[i][t] for consecutive i is
// one contiguous vector. A tile is NR = 4 weight rows × V vectors of W rows of x (W = simd_width():
// 16 lanes in zmm, 8 in ymm), NR·V accumulators; each kept value is broadcast once and multiplied
// into V vectors loaded from its row of xt (one load per FMA, served from L1/L2: the xt block is
// ~2 MB). Each thread owns blocks of 4 weight rows, decodes them once per x block into f32 values and
// xt row offsets (2 per group), and runs every tile of the block with them. The sum for one output
// is over the kept values in increasing k, f32 FMAs; bias is added in f32 and y rounded once.
#include <algorithm>
#include <vector>

#include "../common/backend.h"
#include "../common/convert.h"
#include "../common/dtype_switch.h"
#include "parallel.h"
#include "simd.h"

namespace tao {
namespace cpu {

namespace {

constexpr int NR = 4;                    // weight rows per tile
constexpr int64_t kXtBytes = 2 << 20;    // xt block size
constexpr int64_t kWideTile = 48;        // rows of x per tile for larger m (3 zmm, or 6 ymm in two tiles)

// out[r][l] = Σ_j val[r][j] · xt[off[r][j] + l] for r < NR, l < V·W (xt already offset to the tile's first row).
template <int W, int V>
TAO_INLINE void tile(const float* xt, const int64_t* const* off, const float* const* val, int64_t half_k, float* out) {
  using F = typename Lanes<W>::F;
  F acc[NR][V] = {};
  for (int64_t j = 0; j < half_k; ++j)
    for (int r = 0; r < NR; ++r) {
      const F a = vsplat<W>(val[r][j]);
      const float* p = xt + off[r][j];
      for (int v = 0; v < V; ++v) acc[r][v] += a * vload<W>(p + v * W);
    }
  for (int r = 0; r < NR; ++r)
    for (int v = 0; v < V; ++v) vstore<W>(out + r * V * W + v * W, acc[r][v]);
}

// One tile of `width` rows of x (width = 48: wide tiles; else W) for NR weight rows; out [NR][width].
TAO_CPU_CLONES __attribute__((optimize("fp-contract=fast"))) void sparse24_tile(const float* xt, const int64_t* const* off,
                                                                               const float* const* val, int64_t half_k,
                                                                               int width, float* out) {
  if (simd_width() == 16) {
    if (width == kWideTile) tile<16, 3>(xt, off, val, half_k, out);
    else tile<16, 1>(xt, off, val, half_k, out);
  } else {
    if (width == kWideTile) {
      tile<8, 3>(xt, off, val, half_k, out);
      tile<8, 3>(xt + 24, off, val, half_k, out + NR * 24);  // out [2][NR][24]: reordered by the caller
    } else {
      tile<8, 1>(xt, off, val, half_k, out);
    }
  }
}

template <int D>
void run(const Sparse24LinearCall& c) {
  using T = typename Dt<D>::T;
  const T* x = (const T*)c.x;
  const T* values = (const T*)c.values;
  const T* bias = (const T*)c.bias;
  T* y = (T*)c.y;
  const int64_t k = c.k, half_k = k / 2, groups = k / 4;
  const int w = simd_width();
  const int64_t width = c.m > w ? kWideTile : w;
  // Rows per xt block: a multiple of the tile width, about kXtBytes of f32.
  const int64_t sb = std::max<int64_t>(width, kXtBytes / (k * 4) / width * width);
  std::vector<float> xt_store;
  for (int64_t i0 = 0; i0 < c.m; i0 += sb) {
    const int64_t rows = std::min(sb, c.m - i0), mp = (rows + width - 1) / width * width;
    xt_store.assign((size_t)(k * mp), 0.0f);
    float* xt = xt_store.data();
    parallel_for((uint64_t)k, 64, [&](uint64_t t0, uint64_t t1) {
      for (int64_t i = 0; i < rows; ++i)
        for (uint64_t t = t0; t < t1; ++t) xt[t * mp + i] = Dt<D>::to_f32(x[(i0 + i) * k + t]);
    });
    const int64_t nblocks = (c.n + NR - 1) / NR;
    parallel_for((uint64_t)nblocks, 1, [&](uint64_t b0, uint64_t b1) {
      std::vector<int64_t> off_store((size_t)(NR * half_k));
      std::vector<float> val_store((size_t)(NR * half_k)), out((size_t)(NR * width));
      const int64_t* off[NR];
      const float* val[NR];
      for (uint64_t b = b0; b < b1; ++b) {
        const int64_t j0 = (int64_t)b * NR;
        for (int r = 0; r < NR; ++r) {
          const int64_t row = std::min(j0 + r, c.n - 1);  // a short last block repeats its last row
          int64_t* o = off_store.data() + r * half_k;
          float* v = val_store.data() + r * half_k;
          for (int64_t g = 0; g < groups; ++g) {
            const uint8_t m8 = c.meta[row * groups + g];
            o[2 * g] = (4 * g + (m8 & 3)) * mp;
            o[2 * g + 1] = (4 * g + ((m8 >> 2) & 3)) * mp;
            v[2 * g] = Dt<D>::to_f32(values[row * half_k + 2 * g]);
            v[2 * g + 1] = Dt<D>::to_f32(values[row * half_k + 2 * g + 1]);
          }
          off[r] = o;
          val[r] = v;
        }
        for (int64_t l0 = 0; l0 < rows; l0 += width) {
          sparse24_tile(xt + l0, off, val, half_k, (int)width, out.data());
          for (int r = 0; r < NR && j0 + r < c.n; ++r) {
            const float bv = bias ? Dt<D>::to_f32(bias[j0 + r]) : 0.0f;
            for (int64_t l = 0; l < width && l0 + l < rows; ++l) {
              // AVX2 wide tiles are two [NR][24] halves.
              const int64_t at = w == 8 && width == kWideTile ? (l / 24) * NR * 24 + r * 24 + l % 24 : r * width + l;
              const float s = out[(size_t)at];
              y[(i0 + l0 + l) * c.n + j0 + r] = Dt<D>::from_f32(bias ? add_rn(s, bv) : s);
            }
          }
        }
      }
    });
  }
}

}  // namespace

tao_status linear_sparse24(const Sparse24LinearCall& c) {
  TAO_SWITCH_WIDE_FLOAT(c.dtype, D, run<D>(c));
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
