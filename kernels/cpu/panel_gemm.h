// Blocked y[m, n] = x[m, k] · Wᵀ for weights stored in a compressed form (int4, int8): each thread
// expands a block of kPanelRows rows of W over kPanelK of k into an f32 panel (row-major, k
// contiguous, in L1) and runs the dot-product GEMM of panel_gemm.cpp over it, for rows of x already
// widened to f32. Rows of x are widened in blocks (a few MB, shared by all threads); every panel is
// expanded once per block of rows. The k order inside the panels only has to match the order of the
// widened x rows (the int4 layout uses that to keep its nibbles in place).
#pragma once
#include <stdint.h>

#include <algorithm>
#include <vector>

#include "parallel.h"

namespace tao {
namespace cpu {

constexpr int64_t kPanelRows = 16;   // rows of W per panel (a multiple of the GEMM's 4-row tiles)
constexpr int64_t kPanelK = 512;      // k per panel: 16 rows x 512 f32 = 32 KB
constexpr int64_t kXBlockBytes = 2 << 20;

// c[i][j] += Σ_{t < kl} x[i·xs + t] · w[j·kl + t] for i < rows, j < kPanelRows, c row-major with
// kPanelRows columns; kl a multiple of 16 (callers zero-pad k). f32 accumulation (FMA where the
// clone has it).
void panel_gemm(const float* x, int64_t xs, int64_t rows, const float* w, int64_t kl, float* c);

// n floats in buf, the first one 64-byte aligned.
inline float* aligned_floats(std::vector<float>& buf, size_t n) {
  buf.resize(n + 16);
  return (float*)(((uintptr_t)buf.data() + 63) & ~(uintptr_t)63);
}

// Runs the blocked product for an m × n output over a padded depth kp (a multiple of 16 and of
// the k granularity the callbacks need):
//   x_rows(r0, r1, dst):       dst[(r - r0)·kp + t] = x[r] widened, t < kp (zeros past k)
//   panel(j0, nb, k0, kl, dst): dst[j·kl + t] = W[j0 + j] expanded at depth k0 + t, j < nb <= kPanelRows
//   store(i, j0, nb, acc):     y[i][j0 + j] from the f32 sum acc[j], j < nb
// Panel rows nb..kPanelRows of a short last block hold stale values; their sums are dropped.
template <class XRows, class Panel, class Store>
void panel_linear(int64_t m, int64_t n, int64_t kp, XRows&& x_rows, Panel&& panel, Store&& store) {
  const int64_t mb = std::min(m, std::max<int64_t>(4, kXBlockBytes / (kp * 4)));
  std::vector<float> xstore;
  float* xb = aligned_floats(xstore, (size_t)(mb * kp));
  const int64_t nblocks = (n + kPanelRows - 1) / kPanelRows;
  for (int64_t i0 = 0; i0 < m; i0 += mb) {
    const int64_t rows = std::min(mb, m - i0);
    parallel_for((uint64_t)rows, 1, [&](uint64_t b, uint64_t e) {
      x_rows(i0 + (int64_t)b, i0 + (int64_t)e, xb + b * kp);
    });
    // Few column blocks: split the rows too, so every thread has work.
    const int64_t want = 2 * (int64_t)max_threads();
    const int64_t splits = nblocks >= want ? 1 : std::min((want + nblocks - 1) / nblocks, (rows + 3) / 4);
    const int64_t per = (rows + splits - 1) / splits;
    parallel_for((uint64_t)(nblocks * splits), 1, [&](uint64_t t0, uint64_t t1) {
      std::vector<float> pstore, cstore;
      float* pb = aligned_floats(pstore, (size_t)(kPanelRows * kPanelK));
      float* cb = aligned_floats(cstore, (size_t)(per * kPanelRows));
      for (uint64_t t = t0; t < t1; ++t) {
        const int64_t j0 = (int64_t)t / splits * kPanelRows, nb = std::min(kPanelRows, n - j0);
        const int64_t r0 = (int64_t)t % splits * per, r1 = std::min(rows, r0 + per);
        if (r0 >= r1) continue;
        std::fill(cb, cb + (r1 - r0) * kPanelRows, 0.0f);
        for (int64_t k0 = 0; k0 < kp; k0 += kPanelK) {
          const int64_t kl = std::min(kPanelK, kp - k0);
          panel(j0, nb, k0, kl, pb);
          panel_gemm(xb + r0 * kp + k0, kp, r1 - r0, pb, kl, cb);
        }
        for (int64_t i = r0; i < r1; ++i) store(i0 + i, j0, nb, cb + (i - r0) * kPanelRows);
      }
    });
  }
}

}  // namespace cpu
}  // namespace tao
