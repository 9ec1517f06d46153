// CUDA tao_linear through cuBLASLt (a few rows of bf16/f16 x go to gemv.cu instead). Row-major
// y[m, n] = x[m, k] · w[n, k]ᵀ is, read column-major, yᵀ[n, m] = (w viewed as k × n)ᵀ · (x viewed as
// k × m): A = w with transpose, B = x without, lda = ldb = k, ldc = n. Compute type f32 (no TF32 for f32 data). With a bias, the product goes to
// an f32 scratch buffer and a small kernel adds the bias and rounds once: cuBLASLt's BIAS epilogue
// and beta = 1 with C = bias both round the product to bf16 first for some algorithms (seen on an
// H100: errors of ~2^-8·|x·w| at n = 40, k = 640).
// Alignment preferences are the pointers' real alignment, so offset views work. cuBLASLt is
// dlopen'ed: every function comes from the loaded library and every status is checked.
#include "../common/backend.h"
#include "../common/convert.h"
#include "../common/status.h"
#include "launch.cuh"
#include "cublaslt_api.h"
#include "gemv.h"
#include "mathlibs.h"

#ifdef TAO_HAVE_CUBLASLT
#include <cublasLt.h>
#endif

namespace tao {
namespace cuda {

#ifdef TAO_HAVE_CUBLASLT
namespace {


#define LT_TRY(name, call)                                                                               \
  do {                                                                                                   \
    cublasStatus_t _st = (call);                                                                         \
    if (_st != CUBLAS_STATUS_SUCCESS)                                                                    \
      return fail(TAO_ERR_LIBRARY, "tao_linear", "%s failed with cuBLAS status %d", name, (int)_st);     \
  } while (0)



cudaDataType_t data_type(int dtype) {
  return dtype == TAO_F32 ? CUDA_R_32F : dtype == TAO_F16 ? CUDA_R_16F : CUDA_R_16BF;
}


// out[m, n] (of out_type) = x · wᵀ, no bias.
tao_status matmul(tao_ctx* ctx, const LinearCall& c, void* out, cudaDataType_t out_type, const char* op) {
  LtHandle h;
  TAO_TRY(cublaslt_handle(ctx, op, &h));
  const Lt& f = lt();
  if (!f.ok) return fail(TAO_ERR_UNAVAILABLE, op, "cuBLASLt is loaded but lacks a matmul entry point");
  const cudaDataType_t t = data_type(c.dtype);
  LtDescs d{f};
  LT_TRY("cublasLtMatmulDescCreate", f.desc_create(&d.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t trans_a = CUBLAS_OP_T;
  LT_TRY("cublasLtMatmulDescSetAttribute", f.desc_set(d.op, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof trans_a));
  LT_TRY("cublasLtMatrixLayoutCreate", f.layout_create(&d.a, t, (uint64_t)c.k, (uint64_t)c.n, c.k));
  LT_TRY("cublasLtMatrixLayoutCreate", f.layout_create(&d.b, t, (uint64_t)c.k, (uint64_t)c.m, c.k));
  LT_TRY("cublasLtMatrixLayoutCreate", f.layout_create(&d.c, out_type, (uint64_t)c.n, (uint64_t)c.m, c.n));
  LT_TRY("cublasLtMatmulPreferenceCreate", f.pref_create(&d.pref));
  LT_TRY("cublasLtMatmulPreferenceSetAttribute",
         f.pref_set(d.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &h.workspace_bytes, sizeof h.workspace_bytes));
  // Split-k partial sums stay in f32: no reduction through the bf16/f16 output (which would round
  // each partial, ~2^-8 relative, and break the f32-accumulation contract of tao.h).
  const uint32_t reduction = CUBLASLT_REDUCTION_SCHEME_NONE | CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
  LT_TRY("cublasLtMatmulPreferenceSetAttribute",
         f.pref_set(d.pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &reduction, sizeof reduction));
  const uint32_t align_a = alignment_of(c.w), align_b = alignment_of(c.x), align_c = alignment_of(out);
  LT_TRY("cublasLtMatmulPreferenceSetAttribute",
         f.pref_set(d.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a, sizeof align_a));
  LT_TRY("cublasLtMatmulPreferenceSetAttribute",
         f.pref_set(d.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b, sizeof align_b));
  LT_TRY("cublasLtMatmulPreferenceSetAttribute",
         f.pref_set(d.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_c, sizeof align_c));
  LT_TRY("cublasLtMatmulPreferenceSetAttribute",
         f.pref_set(d.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_c, sizeof align_c));
  cublasLtMatmulHeuristicResult_t algo;
  int found = 0;
  LT_TRY("cublasLtMatmulAlgoGetHeuristic",
         f.heuristic((cublasLtHandle_t)h.handle, d.op, d.a, d.b, d.c, d.c, d.pref, 1, &algo, &found));
  if (found < 1) return fail(TAO_ERR_UNSUPPORTED, op, "cuBLASLt has no algorithm for m=%lld n=%lld k=%lld %s",
                             (long long)c.m, (long long)c.n, (long long)c.k, c.dtype == TAO_F32 ? "f32" : c.dtype == TAO_F16 ? "f16" : "bf16");
  const float alpha = 1.0f, beta = 0.0f;
  LT_TRY("cublasLtMatmul", f.matmul((cublasLtHandle_t)h.handle, d.op, &alpha, c.w, d.a, c.x, d.b, &beta, out, d.c, out,
                                    d.c, &algo.algo, h.workspace, h.workspace_bytes, stream_of(ctx)));
  return check_launch(op);
}

// y[i, j] = dtype(acc[i, j] + bias[j]): one rounding.
template <int Dtype>
__global__ void add_bias_kernel(const float* __restrict__ acc, const void* bias_, void* y_, uint64_t m, uint64_t n) {
  using D = Dt<Dtype>;
  const auto* bias = (const typename D::T*)bias_;
  auto* y = (typename D::T*)y_;
  for (uint64_t i = global_thread(); i < m * n; i += grid_threads()) y[i] = D::from_f32(acc[i] + D::to_f32(bias[i % n]));
}

}  // namespace

tao_status linear(tao_ctx* ctx, const LinearCall& c) {
  const char* op = "tao_linear";
  if (gemv_usable(c)) return gemv(ctx, c);  // a few rows: bound by reading w once (bench/NOTES.md)
  TAO_TRY(use_device(ctx, op));
  if (!c.bias) return matmul(ctx, c, c.y, data_type(c.dtype), op);
  float* acc = nullptr;
  TAO_TRY(alloc(ctx, (uint64_t)(c.m * c.n) * sizeof(float), (void**)&acc));
  tao_status s = matmul(ctx, c, acc, CUDA_R_32F, op);
  if (s == TAO_OK) {
    const unsigned grid = grid_for(ctx, (uint64_t)(c.m * c.n), 256);
    if (c.dtype == TAO_F32) add_bias_kernel<TAO_F32><<<grid, 256, 0, stream_of(ctx)>>>(acc, c.bias, c.y, c.m, c.n);
    else if (c.dtype == TAO_F16) add_bias_kernel<TAO_F16><<<grid, 256, 0, stream_of(ctx)>>>(acc, c.bias, c.y, c.m, c.n);
    else add_bias_kernel<TAO_BF16><<<grid, 256, 0, stream_of(ctx)>>>(acc, c.bias, c.y, c.m, c.n);
    s = check_launch(op);
  }
  const tao_status fs = release(ctx, acc);
  return s != TAO_OK ? s : fs;
}

#else

tao_status linear(tao_ctx* ctx, const LinearCall& c) {
  if (gemv_usable(c)) return gemv(ctx, c);
  return fail(TAO_ERR_UNAVAILABLE, "tao_linear", "cuBLASLt: this libtao was built without the cuBLASLt headers");
}

#endif

}  // namespace cuda
}  // namespace tao
