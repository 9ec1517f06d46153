// CPU tao_linear_sparse24: y[m, n] = x[m, k] · Wᵀ (+ bias) for a compressed 2:4 W (values + meta),
// doing only the k/2 products of the kept values per output.
//
// The kept values of a weight row sit at k positions that differ from row to row, so the kernel
// vectorizes over m instead of k: x is transposed once per block of rows into xt [k][mp] (f32, mp
// the block's rows rounded up to the tile width, zeros past m, 64-byte aligned), so x[i][t] for
// consecutive i is one contiguous vector. Each kept value is broadcast once and multiplied into the
// V vectors of its row of xt: one load per FMA plus the value. The kept value's k position comes
// from the meta bytes with shifts (eight groups per 64-bit word), so the only loads are xt's and
// the values'. The kernel is bound by loads, so the wide tile is as wide as the registers allow —
// AVX-512: 2 weight rows × 128 rows of x (8 zmm each, 16 accumulators, 9 loads per 8 FMAs); AVX2:
// 2 rows × 32 (4 ymm), run over the 128 in quarters; W rows of x when m <= W.
// Blocking: a thread owns a panel of kPanelRows weight rows, whose values (as f32) and meta bytes it
// copies chunk-major ([chunk][row][...]) so that each chunk's are one sequential stream (read in
// place, 64 rows 8 KB apart defeat the prefetcher). For each tile of x rows it walks k in chunks of
// kChunk, every row pair of the panel running over the chunk's rows of xt (kChunk × width f32,
// 32 KB) with its accumulators in registers (kChunk / 2 kept values between reloads of the f32 tile
// buffer, kPanelRows × width). bench/NOTES.md has the measurements.
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

constexpr int kRowBlock = 4;                  // panel rows are padded to a multiple of this
constexpr int64_t kPanelRows = 64;            // weight rows per thread task
constexpr int64_t kChunk = 64;                // k per chunk
constexpr int64_t kChunkVals = kChunk / 2;    // kept values per row and chunk
constexpr int64_t kChunkGroups = kChunk / 4;  // meta bytes per row and chunk
constexpr int64_t kXtBytes = 2 << 20;         // xt block size
constexpr int64_t kWideTile = 128;            // x rows per tile for m > W

// c[r·ldc + l] += Σ_{g < ng} Σ_{h < 2} val[r·kChunkVals + 2g + h] · xt[(4g + idx_h(meta[r·kChunkGroups + g])) · mp + l]
// for r < R, l < V·W: one chunk of ng groups (xt at the chunk's first k; val / meta: the chunk's
// values and group bytes, kChunkVals / kChunkGroups per row). Eight groups' meta bytes are read as one word per row and the kept values'
// k positions taken from it with shifts (no offset table: the loads are all for xt and the values).
template <int W, int V, int R>
TAO_INLINE void tile(const float* xt, int64_t mp, const uint8_t* meta, const float* val, int64_t ng, float* c, int64_t ldc) {
  using F = typename Lanes<W>::F;
  F acc[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) acc[r][v] = vload<W>(c + r * ldc + v * W);
  auto kept = [&](int r, int64_t g, int h, uint32_t idx) {
    const float a = val[r * kChunkVals + 2 * g + h];  // vector * scalar: one broadcast
    const float* p = xt + (4 * g + idx) * mp;
    for (int v = 0; v < V; ++v) acc[r][v] += vload<W>(p + v * W) * a;
  };
  int64_t g = 0;
  for (; g + 8 <= ng; g += 8) {
    uint64_t word[R];
    for (int r = 0; r < R; ++r) __builtin_memcpy(&word[r], meta + r * kChunkGroups + g, 8);
#pragma GCC unroll 16
    for (int e = 0; e < 16; ++e)
      for (int r = 0; r < R; ++r) kept(r, g + e / 2, e & 1, (uint32_t)(word[r] >> (8 * (e / 2) + 2 * (e & 1))) & 3);
  }
  for (; g < ng; ++g)
    for (int h = 0; h < 2; ++h)
      for (int r = 0; r < R; ++r) kept(r, g, h, (uint32_t)(meta[r * kChunkGroups + g] >> (2 * h)) & 3);
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) vstore<W>(c + r * ldc + v * W, acc[r][v]);
}

// Rows r0 .. r0 + R of the panel over one chunk of ng groups (R-row tile of W·V lanes).
template <int W, int V, int R>
TAO_INLINE void rows_tile(const float* xt, int64_t mp, const uint8_t* meta, const float* val, int64_t r0, int64_t ng, float* c,
                          int64_t ldc) {
  tile<W, V, R>(xt, mp, meta + r0 * kChunkGroups, val + r0 * kChunkVals, ng, c + r0 * ldc, ldc);
}

// All chunks of k for one tile of x rows (width wide; xt rows mp apart) and `rows` (a multiple of
// kRowBlock) panel rows; c [rows][width] accumulates. vals / metas: the panel's kept values and
// group bytes chunk by chunk ([chunk][rows][kChunkVals] / [chunk][rows][kChunkGroups]: each chunk's
// are one contiguous stream).
TAO_CPU_CLONES __attribute__((optimize("fp-contract=fast"))) void panel_tile(const float* xt, int64_t mp, int64_t k,
                                                                            const uint8_t* metas, const float* vals, int64_t rows,
                                                                            int64_t width, float* c) {
  for (int64_t k0 = 0; k0 < k; k0 += kChunk) {
    const int64_t ng = (std::min(k, k0 + kChunk) - k0) / 4, chunk = k0 / kChunk;
    const float* val = vals + chunk * rows * kChunkVals;
    const uint8_t* meta = metas + chunk * rows * kChunkGroups;
    const float* xc = xt + k0 * mp;
    if (simd_width() == 16 && width == kWideTile) {
      for (int64_t r0 = 0; r0 < rows; r0 += 2) rows_tile<16, 8, 2>(xc, mp, meta, val, r0, ng, c, width);
    } else if (simd_width() == 16) {
      for (int64_t r0 = 0; r0 < rows; r0 += 4) rows_tile<16, 1, 4>(xc, mp, meta, val, r0, ng, c, width);
    } else if (width == kWideTile) {
      for (int64_t r0 = 0; r0 < rows; r0 += 2)
        for (int q = 0; q < 4; ++q) rows_tile<8, 4, 2>(xc + 32 * q, mp, meta, val, r0, ng, c + 32 * q, width);  // 8 of the 16 ymm
    } else {
      for (int64_t r0 = 0; r0 < rows; r0 += 4) rows_tile<8, 1, 4>(xc, mp, meta, val, r0, ng, c, width);
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
  // Rows per xt block: a multiple of the tile width, about kXtBytes of f32.
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
      const int64_t chunks = (k + kChunk - 1) / kChunk;
      std::vector<float> val((size_t)(chunks * kPanelRows * kChunkVals)), acc((size_t)(kPanelRows * width));
      std::vector<uint8_t> meta((size_t)(chunks * kPanelRows * kChunkGroups));
      for (uint64_t p = p0; p < p1; ++p) {
        const int64_t j0 = (int64_t)p * kPanelRows, nrows = std::min(kPanelRows, c.n - j0);
        const int64_t prow = (nrows + kRowBlock - 1) / kRowBlock * kRowBlock;
        for (int64_t r = 0; r < prow; ++r) {
          const int64_t row = std::min(j0 + r, c.n - 1);  // rows past n repeat the last; their sums are dropped
          for (int64_t q = 0; q < chunks; ++q) {  // chunk-major: one chunk's values and meta for all rows are one stream
            const T* vs = values + row * half + q * kChunkVals;
            float* vd = val.data() + (q * prow + r) * kChunkVals;
            for (int64_t j = 0, nj = std::min(kChunkVals, half - q * kChunkVals); j < nj; ++j) vd[j] = Dt<D>::to_f32(vs[j]);
            std::copy_n(c.meta + row * groups + q * kChunkGroups, std::min(kChunkGroups, groups - q * kChunkGroups),
                        meta.data() + (q * prow + r) * kChunkGroups);
          }
        }
        for (int64_t l0 = 0; l0 < rows; l0 += width) {
          std::fill(acc.begin(), acc.begin() + prow * width, 0.0f);
          panel_tile(xt + l0, mp, k, meta.data(), val.data(), prow, width, acc.data());
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
