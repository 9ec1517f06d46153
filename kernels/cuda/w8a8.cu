// CUDA W8A8 int8: tao_quantize_rows_int8 and tao_linear_int8_int8 (formulas in include/tao.h).
//
// Quantize: one block per row. Each thread loads 16-byte vectors of the row (8 bf16/f16 or 4 f32
// values), applies the smoothing reciprocal, keeps its first kCache vectors in registers and takes
// the running max of |v| as integer bits (for non-negative floats the integer order is the float
// order and every NaN sorts above inf, so the max propagates NaN and is exact and order-free: the
// result is deterministic). A warp max (redux.sync) and a shared-memory max over warps give the
// row's amax; the same threads then quantize what they hold (rows longer than the cache are read
// a second time, from L1/L2) and write q as 8- or 4-byte vectors. Rows whose size or pointers
// do not allow 16-byte access take the same kernel with one element per "vector".
//
// GEMM: cuBLASLt int8 tensor cores (IMMA / wgmma int8 kernels): A = wq (k × n, transposed),
// B = xq (k × m), D = int32 (n × m column-major = row-major [m][ldd]) in a scratch buffer from the
// context's pool, compute type 32I, alpha = 1, beta = 0: exact int32 sums. cuBLASLt has no int8
// kernel with a bf16/f16/f32 output (its float-scaled int8 path writes int8), so the rescale is one
// epilogue pass: y = dtype(((float)acc · (xs·ws)) + bias), the CPU's steps with __fmul_rn/__fadd_rn
// (never contracted), so CUDA and CPU agree bit for bit. Rows of xq/wq that cuBLASLt's int8 kernels
// cannot take (k % 4 != 0, or a pointer not 4-byte aligned) are copied zero-padded to 16-byte rows
// first; ldd is n rounded up to 4 so every int32 row is 16-byte aligned. Large m may run in chunks
// of rows (TAO_W8A8_CHUNK_ROWS, 0 = one call) so the int32 tile is read back from L2.
// Without cuBLASLt (or when it has no algorithm), a plain int32 kernel computes D instead: slow but exact.
#include <stdlib.h>

#include "../common/backend.h"
#include "../common/convert.h"
#include "../common/status.h"
#include "launch.cuh"
#include "cublaslt_api.h"
#include "mathlibs.h"
#include "w8a8_epilogue.h"

#ifdef TAO_HAVE_CUBLASLT
#include <cublasLt.h>
#endif

namespace tao {
namespace cuda {

namespace {

// ------------------------------------------------------------------ quantize

constexpr int kQuantThreads = 256;
constexpr int kCache = 4;  // vectors per thread kept in registers: 8192 bf16 / 4096 f32 values per row

template <int N>
struct alignas(N >= 4 ? 4 : N) Bytes {
  int8_t v[N];
};

// Quantizes rows of x (dtype Dtype) with VW values per load (VW = 16 / sizeof, or 1).
template <int Dtype, int VW>
__global__ void __launch_bounds__(kQuantThreads) quantize_rows_kernel(const void* __restrict__ x_, const float* __restrict__ smooth,
                                                                      int8_t* __restrict__ q, float* __restrict__ scale, int64_t k) {
  using D = Dt<Dtype>;
  using T = typename D::T;
  using V = Vec<T, VW>;
  const int64_t row = blockIdx.x;
  const V* x = (const V*)((const T*)x_ + row * k);
  const int64_t nv = k / VW;
  float cache[kCache][VW];
  uint32_t amax = 0;

  auto load = [&](int64_t v, float (&out)[VW]) {
    const V raw = x[v];
#pragma unroll
    for (int e = 0; e < VW; ++e) {
      float f = D::to_f32(raw.v[e]);
      if (smooth) f = mul_rn(f, div_rn(1.0f, smooth[v * VW + e]));
      out[e] = f;
    }
  };

#pragma unroll
  for (int c = 0; c < kCache; ++c) {
    const int64_t v = threadIdx.x + (int64_t)c * kQuantThreads;
    if (v < nv) {
      load(v, cache[c]);
#pragma unroll
      for (int e = 0; e < VW; ++e) amax = max(amax, f32_bits(cache[c][e]) & 0x7fffffffu);
    }
  }
  for (int64_t v = threadIdx.x + (int64_t)kCache * kQuantThreads; v < nv; v += kQuantThreads) {
    float f[VW];
    load(v, f);
#pragma unroll
    for (int e = 0; e < VW; ++e) amax = max(amax, f32_bits(f[e]) & 0x7fffffffu);
  }

  __shared__ uint32_t warp_max[kQuantThreads / 32];
  amax = __reduce_max_sync(0xffffffffu, amax);
  if (threadIdx.x % 32 == 0) warp_max[threadIdx.x / 32] = amax;
  __syncthreads();
  amax = 0;
#pragma unroll
  for (int w = 0; w < kQuantThreads / 32; ++w) amax = max(amax, warp_max[w]);

  float s = div_rn(bits_f32(amax), 127.0f);
  if (s < 1e-5f) s = 1e-5f;  // a NaN stays NaN
  const float is = div_rn(1.0f, s);
  if (threadIdx.x == 0) scale[row] = s;

  Bytes<VW>* qrow = (Bytes<VW>*)(q + row * k);
  auto put = [&](int64_t v, const float (&f)[VW]) {
    Bytes<VW> out;
#pragma unroll
    for (int e = 0; e < VW; ++e) {
      float t = rint_f(mul_rn(f[e], is));
      t = t != t ? 0.0f : t;
      t = t < -127.0f ? -127.0f : t > 127.0f ? 127.0f : t;
      out.v[e] = (int8_t)(int32_t)t;
    }
    qrow[v] = out;
  };
#pragma unroll
  for (int c = 0; c < kCache; ++c) {
    const int64_t v = threadIdx.x + (int64_t)c * kQuantThreads;
    if (v < nv) put(v, cache[c]);
  }
  for (int64_t v = threadIdx.x + (int64_t)kCache * kQuantThreads; v < nv; v += kQuantThreads) {
    float f[VW];
    load(v, f);
    put(v, f);
  }
}

template <int Dtype>
void launch_quantize(tao_ctx* ctx, const QuantRowsCall& c) {
  constexpr int es = sizeof(typename Dt<Dtype>::T), VW = 16 / es;
  const bool vec = c.k % VW == 0 && aligned_to(c.x, 16) && aligned_to(c.q, VW) && (!c.smooth || aligned_to(c.smooth, 16));
  if (vec)
    quantize_rows_kernel<Dtype, VW><<<(unsigned)c.m, kQuantThreads, 0, stream_of(ctx)>>>(c.x, c.smooth, c.q, c.scale, c.k);
  else
    quantize_rows_kernel<Dtype, 1><<<(unsigned)c.m, kQuantThreads, 0, stream_of(ctx)>>>(c.x, c.smooth, c.q, c.scale, c.k);
}

// ------------------------------------------------------------------ epilogue

// y[r][col] from one accumulator per output, V columns per thread (V = 4 when n % 4 == 0 and y, acc
// are aligned for it: one vector load, one vector store):
//   Acc = int32_t  (the exact int32 sum): y = dtype(((float)acc · (xs[r] · ws[col])) + bias[col]);
//   Acc = uint16_t (bf16 bits: cuSPARSELt's int8 sum already scaled by ws[col] through its alpha
//                   vector and rounded to bf16): y = dtype(((float)acc · xs[r]) + bias[col]).
// acc may be y itself (bf16 y, ldacc = n): each thread reads its outputs before it writes them.
template <int Dtype, int V, typename Acc>
__global__ void epilogue_kernel(const Acc* acc, int64_t ldacc, const float* __restrict__ xs, const float* __restrict__ ws,
                                const void* __restrict__ bias_, void* y_, int64_t m, int64_t n) {
  using D = Dt<Dtype>;
  using T = typename D::T;
  const T* bias = (const T*)bias_;
  const uint64_t items = (uint64_t)(m * n) / V;
  for (uint64_t i = global_thread(); i < items; i += grid_threads()) {
    const uint64_t e0 = i * V;
    const int64_t r = (int64_t)(e0 / (uint64_t)n), col = (int64_t)(e0 % (uint64_t)n);
    const Vec<Acc, V> a = *(const Vec<Acc, V>*)(acc + r * ldacc + col);
    const float x = xs[r];
    Vec<T, V> out;
#pragma unroll
    for (int e = 0; e < V; ++e) {
      float v;
      if constexpr (sizeof(Acc) == 4) v = mul_rn((float)a.v[e], mul_rn(x, ws[col + e]));
      else v = mul_rn(bf16_to_f32(a.v[e]), x);
      if (bias) v = add_rn(v, D::to_f32(bias[col + e]));
      out.v[e] = D::from_f32(v);
    }
    *(Vec<T, V>*)((T*)y_ + e0) = out;
  }
}

template <int Dtype, typename Acc>
void launch_epilogue(tao_ctx* ctx, const W8A8Call& c, const Acc* acc, int64_t ldacc, int64_t r0, int64_t rows) {
  constexpr int es = sizeof(typename Dt<Dtype>::T);
  void* y = (char*)c.y + r0 * c.n * es;
  const bool vec = c.n % 4 == 0 && ldacc % 4 == 0 && aligned_to(y, 4 * es) && aligned_to(acc, 4 * sizeof(Acc));
  const uint64_t items = (uint64_t)(rows * c.n) / (vec ? 4 : 1);
  const unsigned grid = grid_for(ctx, items, 256);
  if (vec) epilogue_kernel<Dtype, 4, Acc><<<grid, 256, 0, stream_of(ctx)>>>(acc, ldacc, c.xscale + r0, c.wscale, c.bias, y, rows, c.n);
  else epilogue_kernel<Dtype, 1, Acc><<<grid, 256, 0, stream_of(ctx)>>>(acc, ldacc, c.xscale + r0, c.wscale, c.bias, y, rows, c.n);
}

template <typename Acc>
tao_status epilogue(tao_ctx* ctx, const W8A8Call& c, const Acc* acc, int64_t ldacc, int64_t r0, int64_t rows, const char* op) {
  if (c.dtype == TAO_BF16) launch_epilogue<TAO_BF16>(ctx, c, acc, ldacc, r0, rows);
  else if (c.dtype == TAO_F16) launch_epilogue<TAO_F16>(ctx, c, acc, ldacc, r0, rows);
  else launch_epilogue<TAO_F32>(ctx, c, acc, ldacc, r0, rows);
  return check_launch(op);
}

// ------------------------------------------------------------------ int32 GEMM

// d[i][j] = Σ_t b[i·ldb + t] · a[j·lda + t]: one thread per output, the fallback when cuBLASLt cannot run.
__global__ void int8_gemm_fallback(const int8_t* __restrict__ a, int64_t lda, const int8_t* __restrict__ b, int64_t ldb,
                                   int32_t* __restrict__ d, int64_t ldd, int64_t m, int64_t n, int64_t k) {
  for (uint64_t idx = global_thread(); idx < (uint64_t)(m * n); idx += grid_threads()) {
    const int64_t i = (int64_t)(idx / (uint64_t)n), j = (int64_t)(idx % (uint64_t)n);
    const int8_t* x = b + i * ldb;
    const int8_t* w = a + j * lda;
    int32_t s = 0;
    for (int64_t t = 0; t < k; ++t) s += (int32_t)x[t] * (int32_t)w[t];
    d[i * ldd + j] = s;
  }
}

// One int32 product's operands: a = w [n][lda], b = x rows [m][ldb], d [m][ldd].
struct Gemm {
  const int8_t* a;
  int64_t lda;
  const int8_t* b;
  int64_t ldb;
  int32_t* d;
  int64_t ldd;
  int64_t m, n, k;
};

#ifdef TAO_HAVE_CUBLASLT

#define W8_LT_TRY(name, call)                                                                                  \
  do {                                                                                                         \
    cublasStatus_t _st = (call);                                                                               \
    if (_st != CUBLAS_STATUS_SUCCESS)                                                                          \
      return fail(TAO_ERR_LIBRARY, "tao_linear_int8_int8", "%s failed with cuBLAS status %d", name, (int)_st); \
  } while (0)



// cuBLASLt's int32 product; *ran = false (and TAO_OK) when it has no algorithm for the shape.
tao_status imma(tao_ctx* ctx, const Gemm& g, bool* ran) {
  const char* op = "tao_linear_int8_int8";
  *ran = false;
  LtHandle h;
  TAO_TRY(cublaslt_handle(ctx, op, &h));
  const Lt& f = lt();
  if (!f.ok) return fail(TAO_ERR_UNAVAILABLE, op, "cuBLASLt is loaded but lacks a matmul entry point");
  LtDescs d{f};
  W8_LT_TRY("cublasLtMatmulDescCreate", f.desc_create(&d.op, CUBLAS_COMPUTE_32I, CUDA_R_32I));
  const cublasOperation_t trans_a = CUBLAS_OP_T;
  W8_LT_TRY("cublasLtMatmulDescSetAttribute", f.desc_set(d.op, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof trans_a));
  W8_LT_TRY("cublasLtMatrixLayoutCreate", f.layout_create(&d.a, CUDA_R_8I, (uint64_t)g.k, (uint64_t)g.n, g.lda));
  W8_LT_TRY("cublasLtMatrixLayoutCreate", f.layout_create(&d.b, CUDA_R_8I, (uint64_t)g.k, (uint64_t)g.m, g.ldb));
  W8_LT_TRY("cublasLtMatrixLayoutCreate", f.layout_create(&d.c, CUDA_R_32I, (uint64_t)g.n, (uint64_t)g.m, g.ldd));
  W8_LT_TRY("cublasLtMatmulPreferenceCreate", f.pref_create(&d.pref));
  W8_LT_TRY("cublasLtMatmulPreferenceSetAttribute",
            f.pref_set(d.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &h.workspace_bytes, sizeof h.workspace_bytes));
  const uint32_t align_a = alignment_of(g.a), align_b = alignment_of(g.b), align_d = alignment_of(g.d);
  W8_LT_TRY("cublasLtMatmulPreferenceSetAttribute",
            f.pref_set(d.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a, sizeof align_a));
  W8_LT_TRY("cublasLtMatmulPreferenceSetAttribute",
            f.pref_set(d.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b, sizeof align_b));
  W8_LT_TRY("cublasLtMatmulPreferenceSetAttribute",
            f.pref_set(d.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_d, sizeof align_d));
  W8_LT_TRY("cublasLtMatmulPreferenceSetAttribute",
            f.pref_set(d.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_d, sizeof align_d));
  cublasLtMatmulHeuristicResult_t algo;
  int found = 0;
  const cublasStatus_t hs = f.heuristic((cublasLtHandle_t)h.handle, d.op, d.a, d.b, d.c, d.c, d.pref, 1, &algo, &found);
  if (hs == CUBLAS_STATUS_NOT_SUPPORTED || (hs == CUBLAS_STATUS_SUCCESS && found < 1)) return TAO_OK;
  W8_LT_TRY("cublasLtMatmulAlgoGetHeuristic", hs);
  const int32_t alpha = 1, beta = 0;
  W8_LT_TRY("cublasLtMatmul", f.matmul((cublasLtHandle_t)h.handle, d.op, &alpha, g.a, d.a, g.b, d.b, &beta, g.d, d.c, g.d, d.c,
                                       &algo.algo, h.workspace, h.workspace_bytes, stream_of(ctx)));
  *ran = true;
  return check_launch(op);
}
#endif

tao_status gemm_int32(tao_ctx* ctx, const Gemm& g) {
  bool ran = false;
#ifdef TAO_HAVE_CUBLASLT
  TAO_TRY(imma(ctx, g, &ran));
#endif
  if (ran) return TAO_OK;
  int8_gemm_fallback<<<grid_for(ctx, (uint64_t)(g.m * g.n), 256), 256, 0, stream_of(ctx)>>>(g.a, g.lda, g.b, g.ldb, g.d, g.ldd,
                                                                                            g.m, g.n, g.k);
  return check_launch("tao_linear_int8_int8");
}

int64_t chunk_rows() {
  static const int64_t rows = [] {
    const char* e = getenv("TAO_W8A8_CHUNK_ROWS");
    return e ? (int64_t)atoll(e) : (int64_t)0;
  }();
  return rows;
}

// A zero-padded copy of src [rows][k] with rows of ld bytes.
tao_status pad_rows(tao_ctx* ctx, const int8_t* src, int64_t rows, int64_t k, int64_t ld, void** out, const char* op) {
  TAO_TRY(alloc(ctx, (uint64_t)(rows * ld), out));
  cudaError_t e = cudaMemsetAsync(*out, 0, (size_t)(rows * ld), stream_of(ctx));
  if (e == cudaSuccess)
    e = cudaMemcpy2DAsync(*out, (size_t)ld, src, (size_t)k, (size_t)k, (size_t)rows, cudaMemcpyDeviceToDevice, stream_of(ctx));
  return e == cudaSuccess ? TAO_OK : cuda_fail(e, op, "padding int8 rows");
}

tao_status run_linear(tao_ctx* ctx, const W8A8Call& c, const int8_t* x, const int8_t* w, int64_t ld, const char* op) {
  const int64_t ldd = (c.n + 3) / 4 * 4;
  const int64_t want = chunk_rows();
  const int64_t mc = want > 0 && want < c.m ? want : c.m;
  int32_t* acc = nullptr;
  TAO_TRY(alloc(ctx, (uint64_t)(mc * ldd) * sizeof(int32_t), (void**)&acc));
  tao_status s = TAO_OK;
  for (int64_t r0 = 0; r0 < c.m && s == TAO_OK; r0 += mc) {
    const int64_t rows = c.m - r0 < mc ? c.m - r0 : mc;
    s = gemm_int32(ctx, Gemm{w, ld, x + r0 * ld, ld, acc, ldd, rows, c.n, c.k});
    if (s != TAO_OK) break;
    s = w8a8_epilogue(ctx, c, acc, ldd, r0, rows, op);
  }
  const tao_status fs = release(ctx, acc);
  return s != TAO_OK ? s : fs;
}

}  // namespace

tao_status w8a8_epilogue(tao_ctx* ctx, const W8A8Call& c, const int32_t* acc, int64_t ldacc, int64_t r0, int64_t rows, const char* op) {
  return epilogue(ctx, c, acc, ldacc, r0, rows, op);
}

tao_status w8a8_epilogue_scaled(tao_ctx* ctx, const W8A8Call& c, const uint16_t* acc, int64_t ldacc, const char* op) {
  return epilogue(ctx, c, acc, ldacc, 0, c.m, op);
}

tao_status quantize_rows_int8(tao_ctx* ctx, const QuantRowsCall& c) {
  const char* op = "tao_quantize_rows_int8";
  TAO_TRY(use_device(ctx, op));
  if (c.m > 0x7fffffffLL) return fail(TAO_ERR_INVALID_ARGUMENT, op, "m=%lld: at most 2^31 - 1 rows on CUDA", (long long)c.m);
  if (c.dtype == TAO_F32) launch_quantize<TAO_F32>(ctx, c);
  else if (c.dtype == TAO_F16) launch_quantize<TAO_F16>(ctx, c);
  else launch_quantize<TAO_BF16>(ctx, c);
  return check_launch(op);
}

tao_status linear_int8_int8(tao_ctx* ctx, const W8A8Call& c) {
  const char* op = "tao_linear_int8_int8";
  TAO_TRY(use_device(ctx, op));
  if (c.k % 4 == 0 && aligned_to(c.xq, 4) && aligned_to(c.wq, 4)) return run_linear(ctx, c, c.xq, c.wq, c.k, op);
  // Rows cuBLASLt's int8 kernels cannot read: zero-padded copies with 16-byte rows (zeros add nothing).
  const int64_t ld = (c.k + 15) / 16 * 16;
  void *xp = nullptr, *wp = nullptr;
  tao_status s = pad_rows(ctx, c.xq, c.m, c.k, ld, &xp, op);
  if (s == TAO_OK) s = pad_rows(ctx, c.wq, c.n, c.k, ld, &wp, op);
  if (s == TAO_OK) s = run_linear(ctx, c, (const int8_t*)xp, (const int8_t*)wp, ld, op);
  const tao_status f1 = xp ? release(ctx, xp) : TAO_OK, f2 = wp ? release(ctx, wp) : TAO_OK;
  return s != TAO_OK ? s : f1 != TAO_OK ? f1 : f2;
}

}  // namespace cuda
}  // namespace tao
