// CUDA tao_quantize_f8 and tao_linear_f8_f8.
//
// Quantization: row-wise, one block per row: the block reads the row once for |x|'s maximum (the
// maximum of the bit patterns with the sign cleared: integer order is float order for non-negative
// floats, and NaN patterns sit above inf, so a NaN wins as in torch.amax), then reads it again (an
// L1/L2 hit: a row is a few KB) to write x / s saturated to e4m3. Per tensor: one grid-wide pass of
// atomicMax into a scratch word, then the quantization pass.
//
// Linear: cuBLASLt FP8 (sm_89+). Row-major y[m, n] = xq[m, k] · wq[n, k]ᵀ is, column-major,
// yᵀ[n, m] = op(A = wq, transposed) · B = xq, the "TN" form FP8 needs. The scales go in as
//  - per tensor, no bias: A/B scale pointers (scalars), D in y's dtype: one cuBLASLt call;
//  - row-wise, no bias: A/B scale mode OUTER_VEC_32F (wscale [n] on A's rows, xscale [m] on B's
//    columns), D in y's dtype, where this cuBLASLt accepts it;
//  - otherwise (a bias, mixed granularities, or a refused mode): the unscaled product in an f32
//    scratch [m, n4] (n rounded up to 4: 16-byte rows) and one epilogue kernel for scales and bias.
// k not a multiple of 16 (FP8's requirement on lda/ldb) or no cuBLASLt: a plain tiled kernel
// (e4m3 decoded to f32, f32 FMA sums) that is correct, not fast.
#include "../common/backend.h"
#include "../common/convert.h"
#include "../common/status.h"
#include "launch.cuh"
#include "cublaslt_api.h"
#include "mathlibs.h"

#include <stdlib.h>

#ifdef TAO_HAVE_CUBLASLT
#include <cublasLt.h>
#endif

namespace tao {
namespace cuda {

namespace {

// ---------------------------------------------------------------- quantization

constexpr int kQuantThreads = 512;

template <int D>
__device__ __forceinline__ float load_f32(const void* x, uint64_t i) {
  return Dt<D>::to_f32(((const typename Dt<D>::T*)x)[i]);
}

__device__ __forceinline__ uint32_t abs_bits(float v) { return f32_bits(v) & 0x7fffffffu; }

// Maximum over the block of each thread's v (all threads get it).
__device__ __forceinline__ uint32_t block_max(uint32_t v) {
  __shared__ uint32_t part[32];
  for (int o = 16; o; o >>= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) part[warp] = v;
  __syncthreads();
  v = lane < (int)(blockDim.x / 32) ? part[lane] : 0u;
  for (int o = 16; o; o >>= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// V elements per access (16-byte loads for V = 16 / sizeof(T)) where the row allows it, else 1.
template <int D, int V>
__device__ __forceinline__ uint32_t row_absmax(const typename Dt<D>::T* row, int64_t k) {
  uint32_t mx = 0;
  for (int64_t t = (int64_t)threadIdx.x * V; t < k; t += (int64_t)blockDim.x * V) {
    const Vec<typename Dt<D>::T, V> v = *(const Vec<typename Dt<D>::T, V>*)(row + t);
#pragma unroll
    for (int e = 0; e < V; ++e) mx = max(mx, abs_bits(Dt<D>::to_f32(v.v[e])));
  }
  return mx;
}

template <int D, int V>
__device__ __forceinline__ void row_quantize(const typename Dt<D>::T* row, int64_t k, float s, uint8_t* q) {
  for (int64_t t = (int64_t)threadIdx.x * V; t < k; t += (int64_t)blockDim.x * V) {
    const Vec<typename Dt<D>::T, V> v = *(const Vec<typename Dt<D>::T, V>*)(row + t);
    Vec<uint8_t, V> o;
#pragma unroll
    for (int e = 0; e < V; ++e) o.v[e] = f32_to_e4m3(div_rn(Dt<D>::to_f32(v.v[e]), s));
    *(Vec<uint8_t, V>*)(q + t) = o;
  }
}

// One block per row: scale[r] and q[r, :].
template <int D, int V>
__global__ void __launch_bounds__(kQuantThreads) quant_rows_kernel(const void* x_, uint8_t* q, float* scale, int64_t k) {
  const int64_t r = blockIdx.x;
  const auto* row = (const typename Dt<D>::T*)x_ + r * k;
  const float s = f8_scale_of(bits_f32(block_max(row_absmax<D, V>(row, k))));
  if (threadIdx.x == 0) scale[r] = s;
  row_quantize<D, V>(row, k, s, q + r * k);
}

// Per tensor, pass 1: *amax = max over all of |x| bits.
template <int D>
__global__ void __launch_bounds__(256) absmax_kernel(const void* x, uint64_t n, uint32_t* amax) {
  uint32_t mx = 0;
  for (uint64_t i = global_thread(); i < n; i += grid_threads()) mx = max(mx, abs_bits(load_f32<D>(x, i)));
  mx = block_max(mx);
  if (threadIdx.x == 0) atomicMax(amax, mx);
}

// Per tensor, pass 2: the scale (block 0 writes it) and q.
template <int D>
__global__ void __launch_bounds__(256) quant_all_kernel(const void* x, uint64_t n, const uint32_t* amax, uint8_t* q, float* scale) {
  const float s = f8_scale_of(bits_f32(*amax));
  if (global_thread() == 0) *scale = s;
  for (uint64_t i = global_thread(); i < n; i += grid_threads()) q[i] = f32_to_e4m3(div_rn(load_f32<D>(x, i), s));
}

template <int D>
tao_status quantize_as(tao_ctx* ctx, const F8QuantCall& c, const char* op) {
  using T = typename Dt<D>::T;
  constexpr int V = 16 / sizeof(T);
  const cudaStream_t st = stream_of(ctx);
  if (c.rowwise) {
    const bool vec = c.k % V == 0 && aligned_to(c.x, 16) && aligned_to(c.q, V);
    const int threads = c.k >= 4096 ? kQuantThreads : c.k >= 1024 ? 256 : 128;
    if (vec) quant_rows_kernel<D, V><<<(unsigned)c.m, threads, 0, st>>>(c.x, c.q, c.scale, c.k);
    else quant_rows_kernel<D, 1><<<(unsigned)c.m, threads, 0, st>>>(c.x, c.q, c.scale, c.k);
    return check_launch(op);
  }
  const uint64_t n = (uint64_t)c.m * (uint64_t)c.k;
  uint32_t* amax = nullptr;
  TAO_TRY(alloc(ctx, sizeof(uint32_t), (void**)&amax));
  tao_status s = cuda::memset(ctx, amax, 0, sizeof(uint32_t));
  if (s == TAO_OK) {
    absmax_kernel<D><<<grid_for(ctx, n, 256), 256, 0, st>>>(c.x, n, amax);
    s = check_launch(op);
  }
  if (s == TAO_OK) {
    quant_all_kernel<D><<<grid_for(ctx, n, 256), 256, 0, st>>>(c.x, n, amax, c.q, c.scale);
    s = check_launch(op);
  }
  const tao_status fs = release(ctx, amax);
  return s != TAO_OK ? s : fs;
}

// ---------------------------------------------------------------- linear helpers

// y[i, j] = dtype(acc[i·ld + j] · (xscale · wscale) + bias[j]), rounded once.
template <int D>
__global__ void __launch_bounds__(256) epilogue_kernel(const float* __restrict__ acc, int64_t ld, F8LinearCall c) {
  using T = typename Dt<D>::T;
  const uint64_t total = (uint64_t)c.m * (uint64_t)c.n;
  for (uint64_t e = global_thread(); e < total; e += grid_threads()) {
    const int64_t i = (int64_t)(e / (uint64_t)c.n), j = (int64_t)(e % (uint64_t)c.n);
    const float sc = mul_rn(c.xscale[c.x_rowwise ? i : 0], c.wscale[c.w_rowwise ? j : 0]);
    float v = mul_rn(acc[i * ld + j], sc);
    if (c.bias) v = add_rn(v, Dt<D>::to_f32(((const T*)c.bias)[j]));
    ((T*)c.y)[e] = Dt<D>::from_f32(v);
  }
}

// The plain kernel: 16×16 outputs per block, k in tiles of 32 decoded to f32 in shared memory.
template <int D>
__global__ void __launch_bounds__(256) simple_kernel(F8LinearCall c) {
  using T = typename Dt<D>::T;
  __shared__ float xs[16][33], ws[16][33];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int64_t i = (int64_t)blockIdx.y * 16 + ty, j = (int64_t)blockIdx.x * 16 + tx;
  float acc = 0.0f;
  for (int64_t k0 = 0; k0 < c.k; k0 += 32) {
    for (int e = threadIdx.x; e < 16 * 32; e += 256) {
      const int r = e / 32, t = e % 32;
      const int64_t xi = (int64_t)blockIdx.y * 16 + r, wj = (int64_t)blockIdx.x * 16 + r, kk = k0 + t;
      xs[r][t] = xi < c.m && kk < c.k ? e4m3_to_f32(c.xq[xi * c.k + kk]) : 0.0f;
      ws[r][t] = wj < c.n && kk < c.k ? e4m3_to_f32(c.wq[wj * c.k + kk]) : 0.0f;
    }
    __syncthreads();
#pragma unroll 8
    for (int t = 0; t < 32; ++t) acc = fmaf(xs[ty][t], ws[tx][t], acc);
    __syncthreads();
  }
  if (i < c.m && j < c.n) {
    const float sc = mul_rn(c.xscale[c.x_rowwise ? i : 0], c.wscale[c.w_rowwise ? j : 0]);
    float v = mul_rn(acc, sc);
    if (c.bias) v = add_rn(v, Dt<D>::to_f32(((const T*)c.bias)[j]));
    ((T*)c.y)[i * c.n + j] = Dt<D>::from_f32(v);
  }
}

template <int D>
tao_status run_simple(tao_ctx* ctx, const F8LinearCall& c, const char* op) {
  const dim3 grid((unsigned)((c.n + 15) / 16), (unsigned)((c.m + 15) / 16));
  simple_kernel<D><<<grid, 256, 0, stream_of(ctx)>>>(c);
  return check_launch(op);
}

tao_status simple(tao_ctx* ctx, const F8LinearCall& c, const char* op) {
  if (c.dtype == TAO_F32) return run_simple<TAO_F32>(ctx, c, op);
  if (c.dtype == TAO_F16) return run_simple<TAO_F16>(ctx, c, op);
  return run_simple<TAO_BF16>(ctx, c, op);
}

tao_status epilogue(tao_ctx* ctx, const float* acc, int64_t ld, const F8LinearCall& c, const char* op) {
  const unsigned grid = grid_for(ctx, (uint64_t)c.m * (uint64_t)c.n, 256);
  if (c.dtype == TAO_F32) epilogue_kernel<TAO_F32><<<grid, 256, 0, stream_of(ctx)>>>(acc, ld, c);
  else if (c.dtype == TAO_F16) epilogue_kernel<TAO_F16><<<grid, 256, 0, stream_of(ctx)>>>(acc, ld, c);
  else epilogue_kernel<TAO_BF16><<<grid, 256, 0, stream_of(ctx)>>>(acc, ld, c);
  return check_launch(op);
}

#ifdef TAO_HAVE_CUBLASLT




// How the scales enter the cuBLASLt call.
enum class Scales { None, Scalar, OuterVec };

// Outcome of one attempt: Done, Refused (this configuration is not supported: try another), or an error.
enum class Try { Done, Refused, Error };

#define LT_SET(call)                                                                                   \
  do {                                                                                                 \
    cublasStatus_t _st = (call);                                                                       \
    if (_st != CUBLAS_STATUS_SUCCESS) {                                                                \
      *err = fail(TAO_ERR_LIBRARY, op, "%s failed with cuBLAS status %d", #call, (int)_st);           \
      return _st == CUBLAS_STATUS_NOT_SUPPORTED || _st == CUBLAS_STATUS_INVALID_VALUE ? Try::Refused  \
                                                                                       : Try::Error;  \
    }                                                                                                  \
  } while (0)

// out (column-major [n, m], leading dimension ld, of out_type) = scales · wqᵀ·xq.
Try lt_matmul(tao_ctx* ctx, const F8LinearCall& c, void* out, cudaDataType_t out_type, int64_t ld, Scales scales,
              const char* op, tao_status* err) {
  LtHandle h;
  if ((*err = cublaslt_handle(ctx, op, &h)) != TAO_OK) return Try::Refused;
  const Lt& f = lt();
  if (!f.ok) {
    *err = fail(TAO_ERR_UNAVAILABLE, op, "cuBLASLt is loaded but lacks a matmul entry point");
    return Try::Refused;
  }
  LtDescs d{f};
  LT_SET(f.desc_create(&d.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t trans_a = CUBLAS_OP_T;
  LT_SET(f.desc_set(d.op, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof trans_a));
  const int8_t fast = c.fast_accum ? 1 : 0;
  LT_SET(f.desc_set(d.op, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fast, sizeof fast));
  if (scales != Scales::None) {
    if (scales == Scales::OuterVec) {
      const int32_t mode = (int32_t)CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F;
      LT_SET(f.desc_set(d.op, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &mode, sizeof mode));
      LT_SET(f.desc_set(d.op, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &mode, sizeof mode));
    }
    const void* a_scale = c.wscale;
    const void* b_scale = c.xscale;
    LT_SET(f.desc_set(d.op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &a_scale, sizeof a_scale));
    LT_SET(f.desc_set(d.op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &b_scale, sizeof b_scale));
  }
  LT_SET(f.layout_create(&d.a, CUDA_R_8F_E4M3, (uint64_t)c.k, (uint64_t)c.n, c.k));
  LT_SET(f.layout_create(&d.b, CUDA_R_8F_E4M3, (uint64_t)c.k, (uint64_t)c.m, c.k));
  LT_SET(f.layout_create(&d.c, out_type, (uint64_t)c.n, (uint64_t)c.m, ld));
  LT_SET(f.pref_create(&d.pref));
  LT_SET(f.pref_set(d.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &h.workspace_bytes, sizeof h.workspace_bytes));
  // Split-k partial sums stay in f32 (never reduced through a bf16/f16 output).
  const uint32_t reduction = CUBLASLT_REDUCTION_SCHEME_NONE | CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
  LT_SET(f.pref_set(d.pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &reduction, sizeof reduction));
  const uint32_t align_a = alignment_of(c.wq), align_b = alignment_of(c.xq), align_c = alignment_of(out);
  LT_SET(f.pref_set(d.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a, sizeof align_a));
  LT_SET(f.pref_set(d.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b, sizeof align_b));
  LT_SET(f.pref_set(d.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_c, sizeof align_c));
  LT_SET(f.pref_set(d.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_c, sizeof align_c));
  cublasLtMatmulHeuristicResult_t algo;
  int found = 0;
  LT_SET(f.heuristic((cublasLtHandle_t)h.handle, d.op, d.a, d.b, d.c, d.c, d.pref, 1, &algo, &found));
  if (found < 1) {
    *err = fail(TAO_ERR_UNSUPPORTED, op, "cuBLASLt has no FP8 algorithm for m=%lld n=%lld k=%lld", (long long)c.m,
                (long long)c.n, (long long)c.k);
    return Try::Refused;
  }
  const float alpha = 1.0f, beta = 0.0f;
  LT_SET(f.matmul((cublasLtHandle_t)h.handle, d.op, &alpha, c.wq, d.a, c.xq, d.b, &beta, out, d.c, out, d.c, &algo.algo,
                  h.workspace, h.workspace_bytes, stream_of(ctx)));
  *err = check_launch(op);
  return *err == TAO_OK ? Try::Done : Try::Error;
}

cudaDataType_t data_type(int dtype) {
  return dtype == TAO_F32 ? CUDA_R_32F : dtype == TAO_F16 ? CUDA_R_16F : CUDA_R_16BF;
}

// TAO_F8_EPILOGUE=1 (a benchmark switch) sends the row-wise case through the epilogue kernel
// instead of cuBLASLt's outer-vector scales, to compare the two.
bool force_epilogue() {
  static const bool v = [] {
    const char* e = getenv("TAO_F8_EPILOGUE");
    return e && e[0] == '1';
  }();
  return v;
}

// The cuBLASLt paths; Refused when none applies (the caller then runs the plain kernel).
Try lt_linear(tao_ctx* ctx, const F8LinearCall& c, const char* op, tao_status* err) {
  const int64_t out_align = c.dtype == TAO_F32 ? 4 : 8;  // elements per 16 bytes of y
  const bool direct_ok = !c.bias && c.n % out_align == 0;
  if (direct_ok && !c.x_rowwise && !c.w_rowwise) {
    const Try t = lt_matmul(ctx, c, c.y, data_type(c.dtype), c.n, Scales::Scalar, op, err);
    if (t != Try::Refused) return t;
  }
  if (direct_ok && c.x_rowwise && c.w_rowwise && !force_epilogue()) {
    const Try t = lt_matmul(ctx, c, c.y, data_type(c.dtype), c.n, Scales::OuterVec, op, err);
    if (t != Try::Refused) return t;
  }
  const int64_t ld = (c.n + 3) / 4 * 4;
  float* acc = nullptr;
  if ((*err = alloc(ctx, (uint64_t)c.m * (uint64_t)ld * sizeof(float), (void**)&acc)) != TAO_OK) return Try::Error;
  Try t = lt_matmul(ctx, c, acc, CUDA_R_32F, ld, Scales::None, op, err);
  if (t == Try::Done) {
    *err = epilogue(ctx, acc, ld, c, op);
    if (*err != TAO_OK) t = Try::Error;
  }
  const tao_status fs = release(ctx, acc);
  if (t == Try::Done && fs != TAO_OK) {
    *err = fs;
    t = Try::Error;
  }
  return t;
}

#endif

}  // namespace

tao_status quantize_f8(tao_ctx* ctx, const F8QuantCall& c) {
  const char* op = "tao_quantize_f8";
  TAO_TRY(use_device(ctx, op));
  if (c.m > 0x7fffffffLL) return fail(TAO_ERR_INVALID_ARGUMENT, op, "m=%lld: at most 2^31 - 1 rows", (long long)c.m);
  if (c.dtype == TAO_F32) return quantize_as<TAO_F32>(ctx, c, op);
  if (c.dtype == TAO_F16) return quantize_as<TAO_F16>(ctx, c, op);
  return quantize_as<TAO_BF16>(ctx, c, op);
}

tao_status linear_f8(tao_ctx* ctx, const F8LinearCall& c) {
  const char* op = "tao_linear_f8_f8";
  TAO_TRY(use_device(ctx, op));
  const int cc = compute_capability(ctx->device);
  if (cc < 89)
    return fail(TAO_ERR_UNSUPPORTED, op, "float8 matmul needs compute capability 8.9+ (this device is %d.%d)", cc / 10, cc % 10);
#ifdef TAO_HAVE_CUBLASLT
  if (c.k % 16 == 0 && aligned_to(c.xq, 16) && aligned_to(c.wq, 16)) {
    tao_status err = TAO_OK;
    const Try t = lt_linear(ctx, c, op, &err);
    if (t == Try::Done) return TAO_OK;
    if (t == Try::Error) return err;
  }
#endif
  if ((c.m + 15) / 16 > 65535) return fail(TAO_ERR_UNSUPPORTED, op, "m=%lld too large for the plain float8 kernel", (long long)c.m);
  return simple(ctx, c, op);
}

}  // namespace cuda
}  // namespace tao
