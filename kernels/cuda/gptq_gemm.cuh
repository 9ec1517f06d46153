// The tiled GEMM behind the GPTQ kernels (Hessian, the blocked Cholesky factorization and triangular
// inverse in f64, the sweep's update of the later columns in f32):
//   C[i, j] = alpha·Σ_t A(i, t)·B(j, t)              (beta = 0: C is not read)
//   C[i, j] = fma(alpha, Σ_t A(i, t)·B(j, t), beta·C[i, j])   (otherwise)
// for i < m, j < n, t < kk, where A(i, t) = a[t·lda + i] when AT (the reduction index strided) and
// a[i·lda + t] otherwise, likewise B. Each thread owns TM×TN outputs, rows ty + RY·u and columns
// tx + RX·v (so a warp's shared-memory reads are broadcasts for A and consecutive for B); the sum over
// t runs in order from 0 by fused multiply-adds, the order the CPU kernels use, so results can be
// bit-identical to them. With `lower`, tiles wholly above the diagonal are skipped and only j <= i is
// written. Tiles of BK along t are staged through shared memory (padded rows: conflict-free stores).
// Not cuBLASLt: its f64 and f32 paths would need its headers at build time (optional here), and the
// fixed summation order is what keeps the CUDA sweep equal to the CPU one.
#pragma once
#include <stdint.h>

#include "../common/convert.h"
#include "../common/status.h"
#include "launch.cuh"

namespace tao {
namespace cuda {
namespace gptq {

// Element loaders: Same<T> reads T as is; Wide<D> widens a 16/32-bit float dtype to f32.
template <class T>
struct Same {
  using E = T;
  __device__ __forceinline__ static T get(E v) { return v; }
};
template <int D>
struct Wide {
  using E = typename Dt<D>::T;
  __device__ __forceinline__ static float get(E v) { return Dt<D>::to_f32(v); }
};

__device__ __forceinline__ float fma_t(float a, float b, float c) { return __fmaf_rn(a, b, c); }
__device__ __forceinline__ double fma_t(double a, double b, double c) { return __fma_rn(a, b, c); }
__device__ __forceinline__ float mul_t(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_t(double a, double b) { return __dmul_rn(a, b); }

template <class T, class E>
struct GemmArgs {
  const E* a;
  const E* b;
  T* c;
  int64_t m, n, kk, lda, ldb, ldc;
  T alpha, beta;
  bool lower;
};

// Tile shapes: f32 128×128 (8×8 per thread), f64 64×64 (4×4 per thread); BK 8; 256 threads.
template <class T>
struct Tile;
template <>
struct Tile<float> {
  static constexpr int BM = 128, BN = 128, BK = 8, TM = 8, TN = 8;
};
template <>
struct Tile<double> {
  static constexpr int BM = 64, BN = 64, BK = 8, TM = 4, TN = 4;
};

template <class T, class In, bool AT, bool BT>
__global__ void __launch_bounds__(256) gemm_kernel(GemmArgs<T, typename In::E> g) {
  constexpr int BM = Tile<T>::BM, BN = Tile<T>::BN, BK = Tile<T>::BK, TM = Tile<T>::TM, TN = Tile<T>::TN;
  constexpr int RY = BM / TM, RX = BN / TN, NT = RY * RX;
  static_assert(NT == 256, "256 threads");
  __shared__ T As[BK][BM + 4];
  __shared__ T Bs[BK][BN + 4];
  const int64_t i0 = (int64_t)blockIdx.x * BM, j0 = (int64_t)blockIdx.y * BN;
  if (g.lower && j0 > i0 + BM - 1) return;
  const int tid = threadIdx.x, ty = tid / RX, tx = tid % RX;
  T acc[TM][TN];
#pragma unroll
  for (int u = 0; u < TM; ++u)
#pragma unroll
    for (int v = 0; v < TN; ++v) acc[u][v] = T(0);
  for (int64_t t0 = 0; t0 < g.kk; t0 += BK) {
    // Stage A(i0.., t0..) and B(j0.., t0..): consecutive threads walk the contiguous index.
#pragma unroll
    for (int e = tid; e < BK * BM; e += NT) {
      const int ti = AT ? e / BM : e % BK, ii = AT ? e % BM : e / BK;
      const int64_t i = i0 + ii, t = t0 + ti;
      As[ti][ii] = i < g.m && t < g.kk ? In::get(AT ? g.a[t * g.lda + i] : g.a[i * g.lda + t]) : T(0);
    }
#pragma unroll
    for (int e = tid; e < BK * BN; e += NT) {
      const int ti = BT ? e / BN : e % BK, jj = BT ? e % BN : e / BK;
      const int64_t j = j0 + jj, t = t0 + ti;
      Bs[ti][jj] = j < g.n && t < g.kk ? In::get(BT ? g.b[t * g.ldb + j] : g.b[j * g.ldb + t]) : T(0);
    }
    __syncthreads();
#pragma unroll
    for (int t = 0; t < BK; ++t) {
      T af[TM], bf[TN];
#pragma unroll
      for (int u = 0; u < TM; ++u) af[u] = As[t][ty + RY * u];
#pragma unroll
      for (int v = 0; v < TN; ++v) bf[v] = Bs[t][tx + RX * v];
#pragma unroll
      for (int u = 0; u < TM; ++u)
#pragma unroll
        for (int v = 0; v < TN; ++v) acc[u][v] = fma_t(af[u], bf[v], acc[u][v]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int u = 0; u < TM; ++u) {
    const int64_t i = i0 + ty + RY * u;
    if (i >= g.m) continue;
#pragma unroll
    for (int v = 0; v < TN; ++v) {
      const int64_t j = j0 + tx + RX * v;
      if (j >= g.n || (g.lower && j > i)) continue;
      T* c = g.c + i * g.ldc + j;
      *c = g.beta == T(0) ? mul_t(g.alpha, acc[u][v]) : fma_t(g.alpha, acc[u][v], mul_t(g.beta, *c));
    }
  }
}

// Enqueues one GEMM on ctx's stream (nothing when m, n or kk is 0); `op` names the caller in errors.
template <class T, class In, bool AT, bool BT>
tao_status gemm(tao_ctx* ctx, const char* op, const GemmArgs<T, typename In::E>& g) {
  if (g.m == 0 || g.n == 0 || g.kk == 0) return TAO_OK;
  const int64_t gx = (g.m + Tile<T>::BM - 1) / Tile<T>::BM, gy = (g.n + Tile<T>::BN - 1) / Tile<T>::BN;
  if (gy > 65535) return fail(TAO_ERR_UNSUPPORTED, op, "n=%lld is too large for the GEMM grid", (long long)g.n);
  gemm_kernel<T, In, AT, BT><<<dim3((unsigned)gx, (unsigned)gy), 256, 0, stream_of(ctx)>>>(g);
  return check_launch(op);
}

}  // namespace gptq
}  // namespace cuda
}  // namespace tao
