// CPU tao_gptq_factor, unblocked f64: A = the reversed, permuted, damped Hessian (gptq_factor_input);
// its lower Cholesky factor M by rows (left-looking: each entry one dot product of two rows of M,
// parallel over the rows below the pivot); then X = M⁻¹ one column per task (column j depends only on
// itself, top to bottom), written straight into U = J·X·J as f32.
#include <math.h>

#include <new>
#include <vector>

#include "../common/gptq.h"
#include "../common/status.h"
#include "dot.h"
#include "parallel.h"

namespace tao {
namespace cpu {

namespace {

// Multiply-adds a parallel chunk should at least hold (smaller problems run on one thread: a parallel
// region costs more than they do).
constexpr uint64_t kMinWork = 1u << 16;

// Σ_{p < n} a[p]·b[p] in f64 (dot8's order), compiled per instruction set.
TAO_CPU_CLONES double dot(const double* a, const double* b, int64_t n) { return dot8(a, b, n); }

// In-place lower Cholesky factor of a [k, k] (lower triangle used); returns the first failing pivot
// + 1, or 0.
int64_t cholesky(double* a, int64_t k) {
  for (int64_t j = 0; j < k; ++j) {
    double* rj = a + j * k;
    const double d = rj[j] - dot(rj, rj, j);
    if (!(d > 0.0)) return j + 1;
    const double ljj = sqrt(d);
    rj[j] = ljj;
    parallel_for((uint64_t)(k - j - 1), 1 + kMinWork / (uint64_t)(j + 1), [&](uint64_t i0, uint64_t i1) {
      for (uint64_t t = i0; t < i1; ++t) {
        double* ri = a + (j + 1 + (int64_t)t) * k;
        ri[j] = (ri[j] - dot(ri, rj, j)) / ljj;
      }
    });
  }
  return 0;
}

}  // namespace

tao_status gptq_factor(const GptqFactorCall& c) {
  const char* op = "tao_gptq_factor";
  const int64_t k = c.k;
  if (c.perm) {
    if (c.act_order) {
      parallel_for((uint64_t)k, 1 + kMinWork / (uint64_t)k, [&](uint64_t i0, uint64_t i1) {
        for (uint64_t i = i0; i < i1; ++i) c.perm[gptq_rank(c.h, k, (int64_t)i)] = (int32_t)i;
      });
    } else {
      for (int64_t i = 0; i < k; ++i) c.perm[i] = (int32_t)i;
    }
  }
  std::vector<double> a;
  try {
    a.resize((size_t)(k * k));
  } catch (const std::bad_alloc&) {
    return fail(TAO_ERR_OUT_OF_MEMORY, op, "cannot allocate the %lld x %lld f64 factorization buffer", (long long)k, (long long)k);
  }
  const double damp = gptq_damp(c.h, k, c.percdamp);
  parallel_for((uint64_t)k, 1 + kMinWork / (uint64_t)k, [&](uint64_t i0, uint64_t i1) {
    for (uint64_t i = i0; i < i1; ++i)
      for (int64_t j = 0; j <= (int64_t)i; ++j) a[i * k + j] = gptq_factor_input(c.h, k, c.perm, damp, (int64_t)i, j);
  });
  const int64_t bad = cholesky(a.data(), k);
  // info: 1 + the quantization position of the failed pivot (row j of A is position k − 1 − j).
  c.info[0] = bad ? (int32_t)(k - bad + 1) : 0;
  if (bad) return TAO_OK;
  // Column j of X = M⁻¹: X[j][j] = 1 / M[j][j], X[i][j] = −(Σ_{j ≤ p < i} M[i][p]·X[p][j]) / M[i][i];
  // U[k−1−i][k−1−j] = X[i][j], zeros below U's diagonal.
  parallel_for((uint64_t)k, 1 + kMinWork / (uint64_t)(k * k / 2 + 1), [&](uint64_t j0, uint64_t j1) {
    std::vector<double> x((size_t)k);
    for (uint64_t jj = j0; jj < j1; ++jj) {
      const int64_t j = (int64_t)jj, col = k - 1 - j;
      x[j] = 1.0 / a[j * k + j];
      for (int64_t i = j + 1; i < k; ++i) x[i] = -dot(a.data() + i * k + j, x.data() + j, i - j) / a[i * k + i];
      for (int64_t i = 0; i < k; ++i) c.u[(k - 1 - i) * k + col] = i >= j ? (float)x[i] : 0.0f;
    }
  });
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
