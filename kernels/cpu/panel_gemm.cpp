// The f32 dot-product GEMM behind panel_linear (panel_gemm.h). A tile is W/4 rows of x against
// 4 panel rows (W = simd_width(): 16 lanes, 4 x 4 tiles in 16 zmm; 8 lanes, 2 x 4 tiles in 8 ymm):
// W accumulators along k, each loaded vector used 4 or W/4 times, then a reduction tree turns the
// W accumulators into one vector of W sums, added to c once per panel. Tiles walk the panel for
// fixed rows of x, so those rows stay in L1 while the 32 KB panel is reread from L1.
#include "panel_gemm.h"

#include "simd.h"

namespace tao {
namespace cpu {

namespace {

constexpr int NR = 4;  // panel rows per tile

// Pairwise fold of two vectors holding groups of G lanes of partial sums: the result holds groups
// of G/2 lanes, a's groups then b's, each the sum of the two halves of the original group.
template <int W, int G>
TAO_INLINE typename Lanes<W>::F fold(const typename Lanes<W>::F& a, const typename Lanes<W>::F& b) {
  typename Lanes<W>::I lo, hi;
  for (int l = 0; l < W; ++l) {
    const int h = l % (W / 2);  // lane within the half; shuffle indices W+ pick from b
    lo[l] = (l < W / 2 ? 0 : W) + h / (G / 2) * G + h % (G / 2);
    hi[l] = lo[l] + G / 2;
  }
  return __builtin_shuffle(a, b, lo) + __builtin_shuffle(a, b, hi);
}

// v[0][i] = Σ lanes of v[i] for the G vectors v[0..G) of G-lane groups (W - 1 folds in all).
template <int W, int G>
TAO_INLINE void fold_all(typename Lanes<W>::F* v) {
  for (int i = 0; i < G / 2; ++i) v[i] = fold<W, G>(v[2 * i], v[2 * i + 1]);
  if constexpr (G > 2) fold_all<W, G / 2>(v);
}

// c[a][b] += Σ_t x[a·xs + t] · w[b·kl + t] for a < R <= W/4, b < NR.
template <int W, int R>
TAO_INLINE void tile(const float* x, int64_t xs, const float* w, int64_t kl, float* c) {
  using F = typename Lanes<W>::F;
  F acc[W] = {};
  for (int64_t t = 0; t < kl; t += W) {
    F xv[R];
    for (int a = 0; a < R; ++a) xv[a] = vload<W>(x + a * xs + t);
    for (int b = 0; b < NR; ++b) {
      const F wv = vload<W>(w + b * kl + t);
      for (int a = 0; a < R; ++a) acc[a * NR + b] += xv[a] * wv;
    }
  }
  fold_all<W, W>(acc);
  const F sums = acc[0];
  typedef float f32x4 __attribute__((vector_size(4 * NR)));
  for (int a = 0; a < R; ++a) {  // one 4-wide add per row of c
    f32x4 cv, sv;
    memcpy(&cv, c + a * kPanelRows, sizeof cv);
    memcpy(&sv, (const float*)&sums + a * NR, sizeof sv);
    cv += sv;
    memcpy(c + a * kPanelRows, &cv, sizeof cv);
  }
}

// The tile for the last r rows of x, 1 <= r <= R.
template <int W, int R>
TAO_INLINE void short_tile(int64_t r, const float* x, int64_t xs, const float* w, int64_t kl, float* c) {
  if constexpr (R >= 1) {
    if (r == R) tile<W, R>(x, xs, w, kl, c);
    else short_tile<W, R - 1>(r, x, xs, w, kl, c);
  }
}

// panel_gemm with W lanes.
template <int W>
TAO_INLINE void gemm(const float* x, int64_t xs, int64_t rows, const float* w, int64_t kl, float* c) {
  constexpr int MR = W / 4;
  for (int64_t i = 0; i < rows; i += MR, x += MR * xs, c += MR * kPanelRows)
    for (int64_t j = 0; j < kPanelRows; j += NR) {
      if (rows - i >= MR) tile<W, MR>(x, xs, w + j * kl, kl, c + j);
      else short_tile<W, MR - 1>(rows - i, x, xs, w + j * kl, kl, c + j);
    }
}

}  // namespace

// fp-contract=fast turns acc += x · w into one FMA in the clones that have it.
TAO_CPU_CLONES __attribute__((optimize("fp-contract=fast"))) void panel_gemm(const float* x, int64_t xs, int64_t rows,
                                                                            const float* w, int64_t kl, float* c) {
  if (simd_width() == 16) gemm<16>(x, xs, rows, w, kl, c);
  else gemm<8>(x, xs, rows, w, kl, c);
}

}  // namespace cpu
}  // namespace tao
