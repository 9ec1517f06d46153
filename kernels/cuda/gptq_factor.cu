// CUDA tao_gptq_factor, blocked f64 (panels of kPanel = 64 columns). A = the reversed, permuted,
// damped Hessian (gptq_factor_input); U = J·M⁻¹·J with M the lower Cholesky factor of A.
//  1. order (act-order rank per column), damp (one thread, the CPU's summation order), gather A.
//  2. Right-looking Cholesky: per panel p, diag_block_kernel factors the 64×64 diagonal block in shared
//     memory and inverts it (Dinv_p, kept for step 3); the panel below becomes L21 = A21·Dinv_pᵀ (GEMM
//     into scratch, copied back); the trailing matrix gets A22 −= L21·L21ᵀ (GEMM, lower tiles only).
//  3. X = M⁻¹ by block forward substitution, right-looking: block row i of X is Dinv_i times what the
//     earlier blocks left in it (GEMM + copies), then every later block row gets −M[later, i]·X_i
//     (GEMM with n = i + 64 columns, reduction 64). X starts as zeros.
//  4. scatter U[a][b] = f32(X[k−1−a][k−1−b]) for a <= b, 0 below.
// The flops are in the GEMMs (k³/3 for each of 2 and 3); the per-panel kernels are small and serial.
#include "../common/gptq.h"
#include "gptq_gemm.cuh"

namespace tao {
namespace cuda {

namespace {

constexpr int kPanel = 64;

// perm[rank(i)] = i (act-order) or perm[i] = i.
__global__ void order_kernel(const float* __restrict__ h, int64_t k, bool act_order, int32_t* __restrict__ perm) {
  for (uint64_t i = global_thread(); i < (uint64_t)k; i += grid_threads())
    perm[act_order ? gptq_rank(h, k, (int64_t)i) : (int64_t)i] = (int32_t)i;
}

// *damp = percdamp · mean(diag), one thread (the CPU's order and bits).
__global__ void damp_kernel(const float* __restrict__ h, int64_t k, double percdamp, double* damp) {
  if (global_thread() == 0) *damp = gptq_damp(h, k, percdamp);
}

// A[i][j] = gptq_factor_input(i, j) for j <= i (the upper triangle is never read).
__global__ void gather_kernel(const float* __restrict__ h, int64_t k, const int32_t* __restrict__ perm,
                              const double* __restrict__ damp, double* __restrict__ a) {
  const double d = *damp;
  for (uint64_t e = global_thread(); e < (uint64_t)(k * k); e += grid_threads()) {
    const int64_t i = (int64_t)e / k, j = (int64_t)e % k;
    if (j <= i) a[e] = gptq_factor_input(h, k, perm, d, i, j);
  }
}

// Factors the b×b diagonal block at (p, p) of a in place (lower Cholesky, right-looking, in shared
// memory) and writes its inverse X to dinv (kPanel×kPanel, zeros above the diagonal). A pivot that is
// not positive sets *info (when still 0) to its quantization position + 1; the factor then holds NaN.
// The inverse: thread j computes column j top-down in dinv (reading back only its own writes),
// X[i][j] = −(Σ_{j<=q<i} L[i][q]·X[q][j]) / L[i][i].
__global__ void __launch_bounds__(256) diag_block_kernel(double* __restrict__ a, int64_t k, int64_t p, int b,
                                                        double* __restrict__ dinv, int32_t* __restrict__ info) {
  __shared__ double L[kPanel][kPanel + 1];
  const int tid = threadIdx.x;
  for (int e = tid; e < b * b; e += blockDim.x) L[e / b][e % b] = a[(p + e / b) * k + p + e % b];
  __syncthreads();
  for (int j = 0; j < b; ++j) {
    const double d = L[j][j];
    if (tid == 0 && !(d > 0.0) && *info == 0) *info = (int32_t)(k - (p + j));
    const double ljj = sqrt(d);
    __syncthreads();  // every thread has read L[j][j]
    if (tid == 0) L[j][j] = ljj;
    for (int i = j + 1 + tid; i < b; i += blockDim.x) L[i][j] = L[i][j] / ljj;
    __syncthreads();
    const int w = b - j - 1;
    for (int e = tid; e < w * w; e += blockDim.x) {
      const int i = j + 1 + e / w, c = j + 1 + e % w;
      if (c <= i) L[i][c] = __fma_rn(-L[i][j], L[c][j], L[i][c]);
    }
    __syncthreads();
  }
  if (tid < b) {
    const int j = tid;
    double* x = dinv + j;  // column j: x[i·kPanel] = X[i][j]
    for (int i = 0; i < j; ++i) x[i * kPanel] = 0.0;
    x[j * kPanel] = 1.0 / L[j][j];
    for (int i = j + 1; i < b; ++i) {
      double s = 0.0;
      for (int q = j; q < i; ++q) s = __fma_rn(L[i][q], x[q * kPanel], s);
      x[i * kPanel] = -s / L[i][i];
    }
  }
  for (int e = tid; e < b * b; e += blockDim.x) {
    const int i = e / b, j = e % b;
    if (j <= i) a[(p + i) * k + p + j] = L[i][j];
  }
}

// u[r][c] = f32(x[k−1−r][k−1−c]) for r <= c, 0 below the diagonal.
__global__ void scatter_kernel(const double* __restrict__ x, int64_t k, float* __restrict__ u) {
  for (uint64_t e = global_thread(); e < (uint64_t)(k * k); e += grid_threads()) {
    const int64_t r = (int64_t)e / k, c = (int64_t)e % k;
    u[e] = r <= c ? (float)x[(k - 1 - r) * k + (k - 1 - c)] : 0.0f;
  }
}

// Workspace of one factorization, released on every path.
struct Scratch {
  tao_ctx* ctx;
  double* a = nullptr;     // [k, k]: A, then L in its lower triangle
  double* x = nullptr;     // [k, k]: M⁻¹
  double* dinv = nullptr;  // [panels, kPanel, kPanel]
  double* t = nullptr;     // [kPanel · k]: GEMM output before it is copied in place
  double* damp = nullptr;  // [1]
  ~Scratch() {
    for (double* p : {a, x, dinv, t, damp})
      if (p) release(ctx, p);
  }
};

// dst (ld dld) = src (ld sld), rows × cols doubles, on the stream.
tao_status copy2d(tao_ctx* ctx, const char* op, double* dst, int64_t dld, const double* src, int64_t sld, int64_t rows, int64_t cols) {
  if (rows == 0 || cols == 0) return TAO_OK;
  CUDA_TRY(op, cudaMemcpy2DAsync(dst, (size_t)dld * 8, src, (size_t)sld * 8, (size_t)cols * 8, (size_t)rows,
                                 cudaMemcpyDeviceToDevice, stream_of(ctx)));
  return TAO_OK;
}

using G = gptq::GemmArgs<double, double>;
using F64 = gptq::Same<double>;

// Step 2: A = M·Mᵀ, M in a's lower triangle, the inverted diagonal blocks in s.dinv.
tao_status cholesky(tao_ctx* ctx, const char* op, const Scratch& s, int64_t k, int32_t* info) {
  for (int64_t p = 0; p < k; p += kPanel) {
    const int b = (int)(k - p < kPanel ? k - p : kPanel);
    const int64_t rest = k - p - b;
    double* dinv = s.dinv + (p / kPanel) * kPanel * kPanel;
    diag_block_kernel<<<1, 256, 0, stream_of(ctx)>>>(s.a, k, p, b, dinv, info);
    TAO_TRY(check_launch(op));
    if (rest == 0) break;
    double* panel = s.a + (p + b) * k + p;
    TAO_TRY((gptq::gemm<double, F64, false, false>(ctx, op, G{panel, dinv, s.t, rest, b, b, k, kPanel, b, 1.0, 0.0, false})));
    TAO_TRY(copy2d(ctx, op, panel, k, s.t, b, rest, b));
    TAO_TRY((gptq::gemm<double, F64, false, false>(ctx, op, G{s.t, s.t, panel + b, rest, rest, b, b, b, k, -1.0, 1.0, true})));
  }
  return TAO_OK;
}

// Step 3: s.x = M⁻¹.
tao_status invert(tao_ctx* ctx, const char* op, const Scratch& s, int64_t k) {
  CUDA_TRY(op, cudaMemsetAsync(s.x, 0, (size_t)(k * k) * 8, stream_of(ctx)));
  for (int64_t i0 = 0; i0 < k; i0 += kPanel) {
    const int b = (int)(k - i0 < kPanel ? k - i0 : kPanel);
    const int64_t rest = k - i0 - b;
    const double* dinv = s.dinv + (i0 / kPanel) * kPanel * kPanel;
    double* xi = s.x + i0 * k;  // block row i of X
    // X_i[:, 0:i0] = Dinv_i · (what the earlier blocks left there); X_i[:, i-block] = Dinv_i.
    TAO_TRY((gptq::gemm<double, F64, false, true>(ctx, op, G{dinv, xi, s.t, b, i0, b, kPanel, k, i0, 1.0, 0.0, false})));
    TAO_TRY(copy2d(ctx, op, xi, k, s.t, i0, b, i0));
    TAO_TRY(copy2d(ctx, op, xi + i0, k, dinv, kPanel, b, b));
    // Later block rows: X[r, 0:i0+b] −= M[r, i-block] · X_i[:, 0:i0+b].
    TAO_TRY((gptq::gemm<double, F64, false, true>(
        ctx, op, G{s.a + (i0 + b) * k + i0, xi, s.x + (i0 + b) * k, rest, i0 + b, b, k, k, k, -1.0, 1.0, false})));
  }
  return TAO_OK;
}

}  // namespace

tao_status gptq_factor(tao_ctx* ctx, const GptqFactorCall& c) {
  const char* op = "tao_gptq_factor";
  TAO_TRY(use_device(ctx, op));
  const int64_t k = c.k, panels = (k + kPanel - 1) / kPanel;
  Scratch s{ctx};
  TAO_TRY(alloc(ctx, (uint64_t)(k * k) * 8, (void**)&s.a));
  TAO_TRY(alloc(ctx, (uint64_t)(k * k) * 8, (void**)&s.x));
  TAO_TRY(alloc(ctx, (uint64_t)(panels * kPanel * kPanel) * 8, (void**)&s.dinv));
  TAO_TRY(alloc(ctx, (uint64_t)(kPanel * k) * 8, (void**)&s.t));
  TAO_TRY(alloc(ctx, 8, (void**)&s.damp));
  const cudaStream_t st = stream_of(ctx);
  CUDA_TRY(op, cudaMemsetAsync(c.info, 0, sizeof(int32_t), st));
  if (c.perm) {
    order_kernel<<<grid_for(ctx, (uint64_t)k, 256), 256, 0, st>>>(c.h, k, c.act_order, c.perm);
    TAO_TRY(check_launch(op));
  }
  damp_kernel<<<1, 32, 0, st>>>(c.h, k, c.percdamp, s.damp);
  TAO_TRY(check_launch(op));
  gather_kernel<<<grid_for(ctx, (uint64_t)(k * k), 256), 256, 0, st>>>(c.h, k, c.perm, s.damp, s.a);
  TAO_TRY(check_launch(op));
  TAO_TRY(cholesky(ctx, op, s, k, c.info));
  TAO_TRY(invert(ctx, op, s, k));
  scatter_kernel<<<grid_for(ctx, (uint64_t)(k * k), 256), 256, 0, st>>>(s.x, k, c.u);
  return check_launch(op);
}

}  // namespace cuda
}  // namespace tao
