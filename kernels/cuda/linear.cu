// CUDA tao_linear through cuBLASLt. Row-major y[m, n] = x[m, k] · w[n, k]ᵀ is, read column-major,
// yᵀ[n, m] = (w viewed as k × n)ᵀ · (x viewed as k × m): A = w with transpose, B = x without,
// lda = ldb = k, ldc = n. Compute type f32 (no TF32 for f32 data). The bias is broadcast into y
// first and the matmul runs with beta = 1, so it is added in f32 before the single rounding to the
// output type (cuBLASLt's BIAS epilogue rounds the product to bf16 first for some algorithms).
// Alignment preferences are the pointers' real alignment, so offset views work. cuBLASLt is
// dlopen'ed: every function comes from the loaded library and every status is checked.
#include "../common/backend.h"
#include "../common/status.h"
#include "launch.cuh"
#include "mathlibs.h"

#ifdef TAO_HAVE_CUBLASLT
#include <cublasLt.h>
#endif

namespace tao {
namespace cuda {

#ifdef TAO_HAVE_CUBLASLT
namespace {

// The cuBLASLt entry points tao_linear uses, resolved once from the loaded library.
struct Lt {
  decltype(&cublasLtMatmulDescCreate) desc_create;
  decltype(&cublasLtMatmulDescDestroy) desc_destroy;
  decltype(&cublasLtMatmulDescSetAttribute) desc_set;
  decltype(&cublasLtMatrixLayoutCreate) layout_create;
  decltype(&cublasLtMatrixLayoutDestroy) layout_destroy;
  decltype(&cublasLtMatmulPreferenceCreate) pref_create;
  decltype(&cublasLtMatmulPreferenceDestroy) pref_destroy;
  decltype(&cublasLtMatmulPreferenceSetAttribute) pref_set;
  decltype(&cublasLtMatmulAlgoGetHeuristic) heuristic;
  decltype(&cublasLtMatmul) matmul;
  bool ok;
};

const Lt& lt() {
  static const Lt fns = [] {
    Lt f;
    f.desc_create = (decltype(f.desc_create))cublaslt_symbol("cublasLtMatmulDescCreate");
    f.desc_destroy = (decltype(f.desc_destroy))cublaslt_symbol("cublasLtMatmulDescDestroy");
    f.desc_set = (decltype(f.desc_set))cublaslt_symbol("cublasLtMatmulDescSetAttribute");
    f.layout_create = (decltype(f.layout_create))cublaslt_symbol("cublasLtMatrixLayoutCreate");
    f.layout_destroy = (decltype(f.layout_destroy))cublaslt_symbol("cublasLtMatrixLayoutDestroy");
    f.pref_create = (decltype(f.pref_create))cublaslt_symbol("cublasLtMatmulPreferenceCreate");
    f.pref_destroy = (decltype(f.pref_destroy))cublaslt_symbol("cublasLtMatmulPreferenceDestroy");
    f.pref_set = (decltype(f.pref_set))cublaslt_symbol("cublasLtMatmulPreferenceSetAttribute");
    f.heuristic = (decltype(f.heuristic))cublaslt_symbol("cublasLtMatmulAlgoGetHeuristic");
    f.matmul = (decltype(f.matmul))cublaslt_symbol("cublasLtMatmul");
    f.ok = f.desc_create && f.desc_destroy && f.desc_set && f.layout_create && f.layout_destroy && f.pref_create &&
           f.pref_destroy && f.pref_set && f.heuristic && f.matmul;
    return f;
  }();
  return fns;
}

#define LT_TRY(name, call)                                                                               \
  do {                                                                                                   \
    cublasStatus_t _st = (call);                                                                         \
    if (_st != CUBLAS_STATUS_SUCCESS)                                                                    \
      return fail(TAO_ERR_LIBRARY, "tao_linear", "%s failed with cuBLAS status %d", name, (int)_st);     \
  } while (0)

// Descriptors of one call, destroyed on every path.
struct Descs {
  const Lt& f;
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  ~Descs() {
    if (pref) f.pref_destroy(pref);
    if (c) f.layout_destroy(c);
    if (b) f.layout_destroy(b);
    if (a) f.layout_destroy(a);
    if (op) f.desc_destroy(op);
  }
};

// y[i, j] = bias[j] for the m × n output (T is the element type, one per thread).
template <class T>
__global__ void broadcast_rows_kernel(const T* __restrict__ bias, T* __restrict__ y, uint64_t m, uint64_t n) {
  for (uint64_t i = global_thread(); i < m * n; i += grid_threads()) y[i] = bias[i % n];
}

tao_status broadcast_bias(tao_ctx* ctx, const LinearCall& c) {
  const unsigned grid = grid_for(ctx, (uint64_t)(c.m * c.n), 256);
  if (c.dtype == TAO_F32) {
    broadcast_rows_kernel<<<grid, 256, 0, stream_of(ctx)>>>((const float*)c.bias, (float*)c.y, c.m, c.n);
  } else {
    broadcast_rows_kernel<<<grid, 256, 0, stream_of(ctx)>>>((const uint16_t*)c.bias, (uint16_t*)c.y, c.m, c.n);
  }
  return check_launch("tao_linear");
}

// Largest power of two (<= 256) dividing the address.
uint32_t alignment_of(const void* p) {
  const uintptr_t a = (uintptr_t)p;
  uint32_t al = 256;
  while (al > 1 && a % al) al >>= 1;
  return al;
}

cudaDataType_t data_type(int dtype) {
  return dtype == TAO_F32 ? CUDA_R_32F : dtype == TAO_F16 ? CUDA_R_16F : CUDA_R_16BF;
}

}  // namespace

tao_status linear(tao_ctx* ctx, const LinearCall& c) {
  const char* op = "tao_linear";
  TAO_TRY(use_device(ctx, op));
  LtHandle h;
  TAO_TRY(cublaslt_handle(ctx, op, &h));
  const Lt& f = lt();
  if (!f.ok) return fail(TAO_ERR_UNAVAILABLE, op, "cuBLASLt is loaded but lacks a matmul entry point");
  const cudaDataType_t t = data_type(c.dtype);
  Descs d{f};
  LT_TRY("cublasLtMatmulDescCreate", f.desc_create(&d.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t trans_a = CUBLAS_OP_T;
  LT_TRY("cublasLtMatmulDescSetAttribute", f.desc_set(d.op, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof trans_a));
  LT_TRY("cublasLtMatrixLayoutCreate", f.layout_create(&d.a, t, (uint64_t)c.k, (uint64_t)c.n, c.k));
  LT_TRY("cublasLtMatrixLayoutCreate", f.layout_create(&d.b, t, (uint64_t)c.k, (uint64_t)c.m, c.k));
  LT_TRY("cublasLtMatrixLayoutCreate", f.layout_create(&d.c, t, (uint64_t)c.n, (uint64_t)c.m, c.n));
  LT_TRY("cublasLtMatmulPreferenceCreate", f.pref_create(&d.pref));
  LT_TRY("cublasLtMatmulPreferenceSetAttribute",
         f.pref_set(d.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &h.workspace_bytes, sizeof h.workspace_bytes));
  // Split-k partial sums stay in f32: no reduction through the bf16/f16 output (which would round
  // each partial, ~2^-8 relative, and break the f32-accumulation contract of tao.h).
  const uint32_t reduction = CUBLASLT_REDUCTION_SCHEME_NONE | CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
  LT_TRY("cublasLtMatmulPreferenceSetAttribute",
         f.pref_set(d.pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &reduction, sizeof reduction));
  const uint32_t align_a = alignment_of(c.w), align_b = alignment_of(c.x), align_c = alignment_of(c.y);
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
  if (c.bias) TAO_TRY(broadcast_bias(ctx, c));
  const float alpha = 1.0f, beta = c.bias ? 1.0f : 0.0f;
  LT_TRY("cublasLtMatmul", f.matmul((cublasLtHandle_t)h.handle, d.op, &alpha, c.w, d.a, c.x, d.b, &beta, c.y, d.c, c.y,
                                    d.c, &algo.algo, h.workspace, h.workspace_bytes, stream_of(ctx)));
  return check_launch(op);
}

#else

tao_status linear(tao_ctx* ctx, const LinearCall& c) {
  (void)ctx, (void)c;
  return fail(TAO_ERR_UNAVAILABLE, "tao_linear", "cuBLASLt: this libtao was built without the cuBLASLt headers");
}

#endif

}  // namespace cuda
}  // namespace tao
