// CPU tao_linear_sparse24: y[m, n] = x[m, k] · Wᵀ (+ bias) for a compressed 2:4 W (values + meta),
// doing only the k/2 products of the kept values per output.
//
// The kept values of a weight row sit at k positions that differ from row to row, so the kernel
// vectorizes over m instead of k: x is transposed once per block of rows into xt [k][mp] (f32, mp
// the block's rows rounded up to the tile width, zeros past m), so x[i][t] for consecutive i is one
// contiguous vector. A tile is NR = 4 weight rows × `width` rows of x (64: 4 zmm, or four quarters
// of 2 ymm; W when m <= W); each kept value is broadcast once and multiplied into the vectors of
// its row of xt (one load per FMA: the kernel is bound by L1 loads, not by FMAs, so halving the
// MACs buys less than 2x; bench/linear_sparse.ts measures it).
// Blocking: a thread owns a panel of kPanelRows weight rows, decoded once per x block into f32
// values and xt offsets (two per group). For each tile of x rows it walks k in chunks of kChunk:
// the chunk's rows of xt (kChunk × width f32 = 16 KB) stay in L1 while every 4-row block of the
// panel runs over them, accumulating into an f32 tile buffer. The sum for one output is over the
// kept values in increasing k, f32 FMAs; bias is added in f32 and y rounded once.
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

constexpr int NR = 4;                   // weight rows per tile
constexpr int64_t kPanelRows = 64;      // weight rows per thread task
constexpr int64_t kChunk = 64;          // k per chunk (32 kept values per row)
constexpr int64_t kXtBytes = 2 << 20;   // xt block size
constexpr int64_t kWideTile = 64;       // x rows per tile for m > W

// c[r·ldc + l] += Σ_{j0 <= j < j1} val[r][j] · xt[off[r][j] + l] for r < NR, l < V·W.
template <int W, int V>
TAO_INLINE void tile(const float* xt, const uint32_t* const* off, const float* const* val, int64_t j0, int64_t j1, float* c,
                     int64_t ldc) {
  using F = typename Lanes<W>::F;
  F acc[NR][V];
  for (int r = 0; r < NR; ++r)
    for (int v = 0; v < V; ++v) acc[r][v] = vload<W>(c + r * ldc + v * W);
  for (int64_t j = j0; j < j1; ++j)
    for (int r = 0; r < NR; ++r) {
      const float a = val[r][j];  // vector * scalar: one broadcast
      const float* p = xt + off[r][j];
      for (int v = 0; v < V; ++v) acc[r][v] += vload<W>(p + v * W) * a;
    }
  for (int r = 0; r < NR; ++r)
    for (int v = 0; v < V; ++v) vstore<W>(c + r * ldc + v * W, acc[r][v]);
}

// All chunks of k for one tile of x rows (width wide) and `rows` (a multiple of NR) panel rows;
// c [rows][width] accumulates. off holds each kept value's xt offset (k index · mp).
TAO_CPU_CLONES __attribute__((optimize("fp-contract=fast"))) void panel_tile(const float* xt, int64_t k, const uint32_t* off,
                                                                            const float* val, int64_t rows, int64_t width, float* c) {
  const int64_t half = k / 2;
  for (int64_t k0 = 0; k0 < k; k0 += kChunk) {
    const int64_t j0 = k0 / 2, j1 = std::min(k, k0 + kChunk) / 2;
    for (int64_t r0 = 0; r0 < rows; r0 += NR) {
      const uint32_t* oi[NR];
      const float* vi[NR];
      for (int r = 0; r < NR; ++r) oi[r] = off + (r0 + r) * half, vi[r] = val + (r0 + r) * half;
      float* cr = c + r0 * width;
      if (simd_width() == 16) {
        if (width == kWideTile) tile<16, 4>(xt, oi, vi, j0, j1, cr, width);
        else tile<16, 1>(xt, oi, vi, j0, j1, cr, width);
      } else if (width == kWideTile) {
        for (int q = 0; q < 4; ++q) tile<8, 2>(xt + 16 * q, oi, vi, j0, j1, cr + 16 * q, width);  // 8 of the 16 ymm
      } else {
        tile<8, 1>(xt, oi, vi, j0, j1, cr, width);
      }
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
  const int64_t k = c.k, half = k / 2, groups = k / 4;
  const int64_t width = c.m > simd_width() ? kWideTile : simd_width();
  // Rows per xt block: a multiple of the tile width, about kXtBytes of f32 (xt offsets fit uint32:
  // k · mp < 2^32 holds for k < 2^26, which the entry point checks).
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
    const int64_t panels = (c.n + kPanelRows - 1) / kPanelRows;
    parallel_for((uint64_t)panels, 1, [&](uint64_t p0, uint64_t p1) {
      std::vector<uint32_t> off((size_t)(kPanelRows * half));
      std::vector<float> val((size_t)(kPanelRows * half)), acc((size_t)(kPanelRows * width));
      for (uint64_t p = p0; p < p1; ++p) {
        const int64_t j0 = (int64_t)p * kPanelRows, nrows = std::min(kPanelRows, c.n - j0);
        const int64_t prow = (nrows + NR - 1) / NR * NR;
        for (int64_t r = 0; r < prow; ++r) {
          const int64_t row = std::min(j0 + r, c.n - 1);  // rows past n repeat the last; their sums are dropped
          for (int64_t g = 0; g < groups; ++g) {
            const uint8_t b = c.meta[row * groups + g];
            off[(size_t)(r * half + 2 * g)] = (uint32_t)((4 * g + (b & 3)) * mp);
            off[(size_t)(r * half + 2 * g + 1)] = (uint32_t)((4 * g + ((b >> 2) & 3)) * mp);
            val[(size_t)(r * half + 2 * g)] = Dt<D>::to_f32(values[row * half + 2 * g]);
            val[(size_t)(r * half + 2 * g + 1)] = Dt<D>::to_f32(values[row * half + 2 * g + 1]);
          }
        }
        for (int64_t l0 = 0; l0 < rows; l0 += width) {
          std::fill(acc.begin(), acc.begin() + prow * width, 0.0f);
          panel_tile(xt + l0, k, off.data(), val.data(), prow, width, acc.data());
          for (int64_t r = 0; r < nrows; ++r) {
            const float bv = bias ? Dt<D>::to_f32(bias[j0 + r]) : 0.0f;
            for (int64_t l = 0; l < width && l0 + l < rows; ++l) {
              const float s = acc[(size_t)(r * width + l)];
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
