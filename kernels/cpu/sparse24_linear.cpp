// CPU tao_linear_sparse24: y[m, n] = x[m, k] · Wᵀ (+ bias) for a compressed 2:4 W (values + meta),
// doing only the k/2 products of the kept values per output.
//
// The kept values of a weight row sit at k positions that differ from row to row, so the kernel
// vectorizes over m instead of k: x is transposed once per block of rows into xt [k][mp] (f32, mp
// the block's rows rounded up to the tile width, zeros past m, 64-byte aligned), so x[i][t] for
// consecutive i is one contiguous vector. Each kept value is broadcast once and multiplied into the
// V vectors of its row of xt, one load per FMA plus the value and its offset: the kernel is bound by
// L1 loads, so the wide tile is as wide as the registers allow — AVX-512: 2 weight rows × 128 rows
// of x (8 zmm each, 16 accumulators, 10 loads per 8 FMAs); AVX2: 2 rows × 32 (4 ymm), run over the
// 128 in quarters; W rows of x when m <= W.
// Blocking: a thread owns a panel of kPanelRows weight rows and their xt offsets (two per group),
// decoded once per x block; f32 values are read where they are, bf16/f16 ones decoded with the
// offsets. For each tile of x rows it walks k in chunks of kChunk: the chunk's rows of xt (kChunk ×
// width f32 = 8 KB) and the panel's f32 tile buffer (kPanelRows × width = 16 KB) stay together in a
// 32 KB L1 while every row block of the panel runs over the chunk (bench/NOTES.md has the sweep).
// The sum for one output is over the kept values in increasing k, f32 FMAs; bias is added in f32
// and y rounded once.
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

constexpr int kRowBlock = 4;            // panel rows are padded to a multiple of this
constexpr int64_t kPanelRows = 32;      // weight rows per thread task
constexpr int64_t kChunk = 16;          // k per chunk (8 kept values per row)
constexpr int64_t kXtBytes = 2 << 20;   // xt block size
constexpr int64_t kWideTile = 128;      // x rows per tile for m > W

// c[r·ldc + l] += Σ_{j0 <= j < j1} val[r][j] · xt[off[r][j] + l] for r < R, l < V·W.
template <int W, int V, int R>
TAO_INLINE void tile(const float* xt, const uint32_t* const* off, const float* const* val, int64_t j0, int64_t j1, float* c,
                     int64_t ldc) {
  using F = typename Lanes<W>::F;
  F acc[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) acc[r][v] = vload<W>(c + r * ldc + v * W);
  for (int64_t j = j0; j < j1; ++j)
    for (int r = 0; r < R; ++r) {
      const float a = val[r][j];  // vector * scalar: one broadcast
      const float* p = xt + off[r][j];
      for (int v = 0; v < V; ++v) acc[r][v] += vload<W>(p + v * W) * a;
    }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) vstore<W>(c + r * ldc + v * W, acc[r][v]);
}

// Rows r0 .. r0 + R of the panel over the kept values j0 .. j1 (R-row tile of W·V lanes).
template <int W, int V, int R>
TAO_INLINE void rows_tile(const float* xt, const uint32_t* const* off, const float* const* val, int64_t r0, int64_t j0, int64_t j1,
                          float* c, int64_t ldc) {
  tile<W, V, R>(xt, off + r0, val + r0, j0, j1, c + r0 * ldc, ldc);
}

// All chunks of k for one tile of x rows (width wide) and `rows` (a multiple of kRowBlock) panel
// rows; c [rows][width] accumulates. off[r] / val[r]: row r's kept values' xt offsets (k index · mp)
// and values.
TAO_CPU_CLONES __attribute__((optimize("fp-contract=fast"))) void panel_tile(const float* xt, int64_t k, const uint32_t* const* off,
                                                                            const float* const* val, int64_t rows, int64_t width,
                                                                            float* c) {
  for (int64_t k0 = 0; k0 < k; k0 += kChunk) {
    const int64_t j0 = k0 / 2, j1 = std::min(k, k0 + kChunk) / 2;
    if (simd_width() == 16 && width == kWideTile) {
      for (int64_t r0 = 0; r0 < rows; r0 += 2) rows_tile<16, 8, 2>(xt, off, val, r0, j0, j1, c, width);
    } else if (simd_width() == 16) {
      for (int64_t r0 = 0; r0 < rows; r0 += 4) rows_tile<16, 1, 4>(xt, off, val, r0, j0, j1, c, width);
    } else if (width == kWideTile) {
      for (int64_t r0 = 0; r0 < rows; r0 += 2)
        for (int q = 0; q < 4; ++q) rows_tile<8, 4, 2>(xt + 32 * q, off, val, r0, j0, j1, c + 32 * q, width);  // 8 of the 16 ymm
    } else {
      for (int64_t r0 = 0; r0 < rows; r0 += 4) rows_tile<8, 1, 4>(xt, off, val, r0, j0, j1, c, width);
    }
  }
}

// off[2g], off[2g + 1] = xt offsets (k index · mp) of the kept values of group g of one row's meta.
TAO_CPU_CLONES void kept_offsets(const uint8_t* meta, int64_t groups, uint32_t mp, uint32_t* off) {
  for (int64_t g = 0; g < groups; ++g) {
    const uint32_t base = 4 * (uint32_t)g, b = meta[g];
    off[2 * g] = (base + (b & 3)) * mp;
    off[2 * g + 1] = (base + ((b >> 2) & 3)) * mp;
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
  // k · mp <= 2^32: mp is the tile width (<= 128) once k is large, and the entry point checks k <= 2^25).
  const int64_t sb = std::max<int64_t>(width, kXtBytes / (k * 4) / width * width);
  std::vector<float> xt_store;
  for (int64_t i0 = 0; i0 < c.m; i0 += sb) {
    const int64_t rows = std::min(sb, c.m - i0), mp = (rows + width - 1) / width * width;
    xt_store.assign((size_t)(k * mp + 16), 0.0f);
    float* xt = (float*)(((uintptr_t)xt_store.data() + 63) & ~(uintptr_t)63);  // 64-byte rows: no split loads
    parallel_for((uint64_t)k, 64, [&](uint64_t t0, uint64_t t1) {
      for (int64_t i = 0; i < rows; ++i)
        for (uint64_t t = t0; t < t1; ++t) xt[t * mp + i] = Dt<D>::to_f32(x[(i0 + i) * k + t]);
    });
    const int64_t panels = (c.n + kPanelRows - 1) / kPanelRows;
    parallel_for((uint64_t)panels, 1, [&](uint64_t p0, uint64_t p1) {
      std::vector<uint32_t> off((size_t)(kPanelRows * half));
      std::vector<float> val(D == TAO_F32 ? 0 : (size_t)(kPanelRows * half)), acc((size_t)(kPanelRows * width));
      const uint32_t* offs[kPanelRows];
      const float* vals[kPanelRows];
      for (uint64_t p = p0; p < p1; ++p) {
        const int64_t j0 = (int64_t)p * kPanelRows, nrows = std::min(kPanelRows, c.n - j0);
        const int64_t prow = (nrows + kRowBlock - 1) / kRowBlock * kRowBlock;
        for (int64_t r = 0; r < prow; ++r) {
          const int64_t row = std::min(j0 + r, c.n - 1);  // rows past n repeat the last; their sums are dropped
          uint32_t* o = off.data() + r * half;
          kept_offsets(c.meta + row * groups, groups, (uint32_t)mp, o);
          offs[r] = o;
          if constexpr (D == TAO_F32) {
            vals[r] = (const float*)values + row * half;
          } else {
            float* v = val.data() + r * half;
            for (int64_t j = 0; j < half; ++j) v[j] = Dt<D>::to_f32(values[row * half + j]);
            vals[r] = v;
          }
        }
        for (int64_t l0 = 0; l0 < rows; l0 += width) {
          std::fill(acc.begin(), acc.begin() + prow * width, 0.0f);
          panel_tile(xt + l0, k, offs, vals, prow, width, acc.data());
          const int64_t n = c.n, lend = std::min(width, rows - l0);
          for (int64_t l = 0; l < lend; ++l) {  // y's row i0 + l0 + l, columns j0 .. j0 + nrows: contiguous stores
            T* yr = y + (i0 + l0 + l) * n + j0;
            const float* a = acc.data() + l;
            for (int64_t r = 0; r < nrows; ++r) {
              const float s = a[r * width];
              yr[r] = Dt<D>::from_f32(bias ? add_rn(s, Dt<D>::to_f32(bias[j0 + r])) : s);
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
