// CPU tao_linear_sparse24: y[m, n] = x[m, k] · Wᵀ (+ bias) for a compressed 2:4 W (values + meta),
// doing only the k/2 products of the kept values per output. Two kernels:
//
// Few rows of x (m <= kDotMaxRows, decode): vectorized over k. The values and meta are read where
// they are, 4 weight rows at a time; W kept values (2W k) take their x from two vectors of an x row
// by one two-source shuffle (dot_tile). Bound by the weight's bytes at m = 1 (about half the dense
// weight's for f32) and by shuffles past that.
//
// More rows: vectorized over m. The kept values of a weight row sit at k positions that differ from
// row to row, so x is transposed once per block of rows into xt [k][mp] (f32, mp the block's rows
// rounded up to 16, zeros past m, 64-byte aligned), so x[i][t] for consecutive i is one contiguous
// vector. Each kept value is broadcast once and multiplied into the V vectors of its row of xt: one
// load per FMA plus the value. The kept value's k position comes from the meta bytes with shifts
// (eight groups per 64-bit word), so the only loads are xt's and the values'. The kernel is bound by
// loads, so the tile is as wide as the registers allow — AVX-512: 2 weight rows × 128 rows of x
// (8 zmm each, 16 accumulators, 9 loads per 8 FMAs); the last tile of a block 64 (4 rows × 4 zmm),
// 32 or 16 rows wide; AVX2: 2 rows × 32 (4 ymm), run over the tile in quarters.
// Blocking: a thread owns a panel of kPanelRows weight rows, whose values (as f32) and meta bytes it
// copies chunk-major ([chunk][row][...]) so that each chunk's are one sequential stream (read in
// place, 64 rows 8 KB apart defeat the prefetcher). For each tile of x rows it walks k in chunks of
// kChunk, every row pair of the panel running over the chunk's rows of xt (kChunk × width f32,
// 32 KB) with its accumulators in registers (kChunk / 2 kept values between reloads of the f32 tile
// buffer, kPanelRows × width). bench/NOTES.md has the measurements.
// Sums are in f32 FMAs (in increasing k per output on the second kernel; in lanes, then across them,
// on the first); bias is added in f32 and y rounded once.
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
constexpr int64_t kWideTile = 128;            // x rows per tile (narrower for the last: 64, 32, 16)
constexpr int64_t kMinTile = 16;              // x rows are padded to a multiple of this
constexpr int64_t kDotMaxRows = 40;           // m up to this: run_few (vectorized over k)

// c[r·ldc + l] += Σ_{g < ng} Σ_{h < 2} val[r·kChunkVals + 2g + h] · xt[(4g + idx_h(meta[r·kChunkGroups + g])) · mp + l]
// for r < R, l < V·W: one chunk of ng groups (xt at the chunk's first k; val / meta: the chunk's
// values and group bytes, kChunkVals / kChunkGroups per row). Eight groups' meta bytes are read as
// one word per row and the kept values' k positions taken from it with shifts (no offset table: the
// loads are all for xt and the values).
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
    if (simd_width() == 16) {
      switch (width) {
        case 128: for (int64_t r0 = 0; r0 < rows; r0 += 2) rows_tile<16, 8, 2>(xc, mp, meta, val, r0, ng, c, width); break;
        case 64: for (int64_t r0 = 0; r0 < rows; r0 += 4) rows_tile<16, 4, 4>(xc, mp, meta, val, r0, ng, c, width); break;
        case 32: for (int64_t r0 = 0; r0 < rows; r0 += 4) rows_tile<16, 2, 4>(xc, mp, meta, val, r0, ng, c, width); break;
        default: for (int64_t r0 = 0; r0 < rows; r0 += 4) rows_tile<16, 1, 4>(xc, mp, meta, val, r0, ng, c, width);
      }
    } else if (width >= 32) {  // 32 lanes (8 of the 16 ymm) at a time
      for (int64_t r0 = 0; r0 < rows; r0 += 2)
        for (int64_t q = 0; q < width; q += 32) rows_tile<8, 4, 2>(xc + q, mp, meta, val, r0, ng, c + q, width);
    } else {
      for (int64_t r0 = 0; r0 < rows; r0 += 4) rows_tile<8, 2, 4>(xc, mp, meta, val, r0, ng, c, width);
    }
  }
}

// Width of the x-row tile that starts `left` (a multiple of kMinTile) rows before the end of xt: the
// widest of 128 / 64 / 32 / 16 that fits.
inline int64_t tile_width(int64_t left) {
  int64_t w = kWideTile;
  while (w > left) w /= 2;
  return w;
}

// W values of dtype D at p as f32 lanes.
template <int W, int D>
TAO_INLINE typename Lanes<W>::F vload_f32(const typename Dt<D>::T* p) {
  if constexpr (D == TAO_F32) {
    return vload<W>(p);
  } else if constexpr (D == TAO_BF16) {  // the bits widened and shifted up: exact
    typename Lanes<W>::H h;
    __builtin_memcpy(&h, p, sizeof h);
    return (typename Lanes<W>::F)(__builtin_convertvector(h, typename Lanes<W>::U) << 16);
  } else {
    typename Lanes<W>::F v;
    for (int l = 0; l < W; ++l) v[l] = Dt<D>::to_f32(p[l]);
    return v;
  }
}

// out[r·ldo + i] = Σ_{g < k/4} Σ_{h < 2} val[r][2g + h] · x[i·k + 4g + idx_h(meta[r][g])] for r < R,
// i < I (x: f32 rows; val / meta: the weight rows' values and group bytes where they are stored).
// For x of few rows: W kept values at a time, vectorized over k — their x are picked out of the
// block's 2W k (two vectors of x[i]) by one two-source shuffle, whose indices come from the W/2 meta
// bytes (read as one word, its two halves broadcast and blended, then a shift per lane); each
// output's lanes are summed at the end.
template <int W, int R, int I, int D>
TAO_INLINE void dot_tile(const float* x, int64_t k, const uint8_t* const* meta, const typename Dt<D>::T* const* val, float* out,
                         int64_t ldo) {
  using F = typename Lanes<W>::F;
  using U = typename Lanes<W>::U;
  using I32 = typename Lanes<W>::I;
  const int64_t groups = k / 4;
  F acc[R][I];
  float tail[R][I] = {};
  U shift, base;
  I32 high;  // lanes whose meta byte is in the word's upper half
  for (int l = 0; l < W; ++l) shift[l] = 8 * (l / 2 % 4) + 2 * (l & 1), base[l] = 4 * (l / 2), high[l] = l >= 8 ? -1 : 0;
  for (int r = 0; r < R; ++r)
    for (int i = 0; i < I; ++i) acc[r][i] = vsplat<W>(0.0f);
  int64_t g = 0;
  for (; g + W / 2 <= groups; g += W / 2) {  // W kept values: groups g .. g + W/2, 2W values of k
    F xs[I][2];
    for (int i = 0; i < I; ++i)
      for (int h = 0; h < 2; ++h) xs[i][h] = vload<W>(x + i * k + 4 * g + h * W);
    for (int r = 0; r < R; ++r) {
      uint64_t word = 0;
      __builtin_memcpy(&word, meta[r] + g, W / 2);
      const U lo = (U){} + (uint32_t)word, hi = (U){} + (uint32_t)(word >> 32);
      const U idx = (((high ? hi : lo) >> shift) & 3) + base;
      const F v = vload_f32<W, D>(val[r] + 2 * g);
      for (int i = 0; i < I; ++i) acc[r][i] += __builtin_shuffle(xs[i][0], xs[i][1], idx) * v;
    }
  }
  for (; g < groups; ++g)
    for (int r = 0; r < R; ++r)
      for (int h = 0; h < 2; ++h) {
        const int64_t t = 4 * g + ((meta[r][g] >> (2 * h)) & 3);
        for (int i = 0; i < I; ++i) tail[r][i] += Dt<D>::to_f32(val[r][2 * g + h]) * x[i * k + t];
      }
  for (int r = 0; r < R; ++r)
    for (int i = 0; i < I; ++i) {
      float s = tail[r][i];
      for (int l = 0; l < W; ++l) s += acc[r][i][l];
      out[r * ldo + i] = s;
    }
}

// kRowBlock weight rows (meta[r], val[r]) against ni <= 4 rows of x (dot_tile's I = ni).
template <int W, int D>
TAO_INLINE void dot_block(const float* x, int64_t ni, int64_t k, const uint8_t* const* meta, const typename Dt<D>::T* const* val,
                          float* out, int64_t ldo) {
  switch (ni) {
    case 1: return dot_tile<W, kRowBlock, 1, D>(x, k, meta, val, out, ldo);
    case 2: return dot_tile<W, kRowBlock, 2, D>(x, k, meta, val, out, ldo);
    case 3: return dot_tile<W, kRowBlock, 3, D>(x, k, meta, val, out, ldo);
    default: return dot_tile<W, kRowBlock, 4, D>(x, k, meta, val, out, ldo);
  }
}

// kRowBlock weight rows against the m <= kDotMaxRows rows of x (f32, rows k apart): out[r·m + i], up
// to 4 x rows at a time.
template <int D>
TAO_CPU_CLONES __attribute__((optimize("fp-contract=fast"))) void rows_dot(const float* x, int64_t m, int64_t k,
                                                                          const uint8_t* const* meta,
                                                                          const typename Dt<D>::T* const* val, float* out) {
  for (int64_t i0 = 0; i0 < m; i0 += 4) {
    const int64_t ni = std::min<int64_t>(4, m - i0);
    if (simd_width() == 16)
      dot_block<16, D>(x + i0 * k, ni, k, meta, val, out + i0, m);
    else
      dot_block<8, D>(x + i0 * k, ni, k, meta, val, out + i0, m);
  }
}

// y[i0 + l][j0 + r] = sum a[r·ld + l] (+ bias[j0 + r]) for l < nl, r < nr: one rounding, each y row's
// columns stored contiguously.
template <int D>
void store_y(const float* a, int64_t ld, const typename Dt<D>::T* bias, typename Dt<D>::T* y, int64_t n, int64_t i0, int64_t nl,
             int64_t j0, int64_t nr) {
  for (int64_t l = 0; l < nl; ++l) {
    typename Dt<D>::T* yr = y + (i0 + l) * n + j0;
    for (int64_t r = 0; r < nr; ++r) {
      const float s = a[r * ld + l];
      yr[r] = Dt<D>::from_f32(bias ? add_rn(s, Dt<D>::to_f32(bias[j0 + r])) : s);
    }
  }
}

// The few-rows path (m <= kDotMaxRows): x as f32 rows (converted unless it is f32), then blocks of
// kRowBlock weight rows read in place.
template <int D>
void run_few(const Sparse24LinearCall& c) {
  using T = typename Dt<D>::T;
  const int64_t m = c.m, k = c.k;
  std::vector<float> converted(D == TAO_F32 ? 0 : (size_t)(m * k));
  for (size_t t = 0; t < converted.size(); ++t) converted[t] = Dt<D>::to_f32(((const T*)c.x)[t]);
  const float* xf = D == TAO_F32 ? (const float*)c.x : converted.data();
  const int64_t blocks = (c.n + kRowBlock - 1) / kRowBlock;
  parallel_for((uint64_t)blocks, 16, [&](uint64_t b0, uint64_t b1) {
    float out[kRowBlock * kDotMaxRows];
    const uint8_t* meta[kRowBlock];
    const T* val[kRowBlock];
    for (uint64_t b = b0; b < b1; ++b) {
      const int64_t j0 = (int64_t)b * kRowBlock, nr = std::min<int64_t>(kRowBlock, c.n - j0);
      for (int r = 0; r < kRowBlock; ++r) {
        const int64_t row = std::min(j0 + r, c.n - 1);  // rows past n repeat the last; their sums are dropped
        meta[r] = c.meta + row * (k / 4);
        val[r] = (const T*)c.values + row * (k / 2);
      }
      rows_dot<D>(xf, m, k, meta, val, out);
      store_y<D>(out, m, (const T*)c.bias, (T*)c.y, c.n, 0, m, j0, nr);
    }
  });
}

template <int D>
void run(const Sparse24LinearCall& c) {
  using T = typename Dt<D>::T;
  const T* x = (const T*)c.x;
  const T* values = (const T*)c.values;
  const T* bias = (const T*)c.bias;
  T* y = (T*)c.y;
  const int64_t k = c.k, half = k / 2, groups = k / 4;
  // Rows per xt block: a multiple of the widest tile, about kXtBytes of f32.
  const int64_t sb = std::max<int64_t>(kWideTile, kXtBytes / (k * 4) / kWideTile * kWideTile);
  std::vector<float> xt_store;
  for (int64_t i0 = 0; i0 < c.m; i0 += sb) {
    const int64_t rows = std::min(sb, c.m - i0), mp = (rows + kMinTile - 1) / kMinTile * kMinTile;
    xt_store.assign((size_t)(k * mp + 16), 0.0f);
    float* xt = (float*)(((uintptr_t)xt_store.data() + 63) & ~(uintptr_t)63);  // 64-byte rows: no split loads
    parallel_for((uint64_t)k, 64, [&](uint64_t t0, uint64_t t1) {
      for (int64_t i = 0; i < rows; ++i)
        for (uint64_t t = t0; t < t1; ++t) xt[t * mp + i] = Dt<D>::to_f32(x[(i0 + i) * k + t]);
    });
    const int64_t panels = (c.n + kPanelRows - 1) / kPanelRows;
    parallel_for((uint64_t)panels, 1, [&](uint64_t p0, uint64_t p1) {
      const int64_t chunks = (k + kChunk - 1) / kChunk;
      std::vector<float> val((size_t)(chunks * kPanelRows * kChunkVals)), acc((size_t)(kPanelRows * kWideTile));
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
        for (int64_t l0 = 0, width; l0 < rows; l0 += width) {
          width = tile_width(mp - l0);
          std::fill(acc.begin(), acc.begin() + prow * width, 0.0f);
          panel_tile(xt + l0, mp, k, meta.data(), val.data(), prow, width, acc.data());
          store_y<D>(acc.data(), width, bias, y, c.n, i0 + l0, std::min(width, rows - l0), j0, nrows);
        }
      }
    });
  }
}

}  // namespace

tao_status linear_sparse24(const Sparse24LinearCall& c) {
  TAO_SWITCH_WIDE_FLOAT(c.dtype, D, c.m <= kDotMaxRows ? run_few<D>(c) : run<D>(c));
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
