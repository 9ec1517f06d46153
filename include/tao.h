/*
 * tao.h — the whole C ABI of libtao.so.
 *
 * Conventions (see shared DESIGN.md):
 *  - Every function returns tao_status: 0 = ok, negative = error kind. On error,
 *    tao_last_error() returns a thread-local message naming the function and the bad argument.
 *    Nothing aborts, exits or prints on bad input.
 *  - A context (tao_ctx) owns one device: the CPU (device -1) or CUDA device N. On CUDA it holds a
 *    stream, a stream-ordered memory pool, lazily loaded cuBLASLt/cuSPARSELt handles and a workspace.
 *    All work of a context is enqueued on its stream; only calls documented as synchronizing wait.
 *  - Tensors cross as raw pointers plus explicit element counts / shapes and dtype codes. Pointers
 *    given to an op must live on the context's device (host memory for the CPU context, device
 *    memory for a CUDA context); ops check this and fail with TAO_ERR_DEVICE_MISMATCH.
 *  - No pointer handed in is kept after the call returns, unless a function's doc says so.
 *  - Every 64-bit slot of a params struct is 8 bytes wide, so the FFI side packs them as an array of
 *    8-byte words (the *_size() functions let tests check the layout).
 */
#ifndef TAO_H
#define TAO_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define TAO_API __declspec(dllexport)
#else
#define TAO_API __attribute__((visibility("default")))
#endif

/* ---------------------------------------------------------------- status codes */
typedef int32_t tao_status;
#define TAO_OK 0
#define TAO_ERR_INVALID_ARGUMENT (-1) /* shape, dtype, null pointer, bad enum value */
#define TAO_ERR_OUT_OF_MEMORY (-2)    /* host or device allocation failed */
#define TAO_ERR_UNSUPPORTED (-3)      /* valid request this build/device cannot do */
#define TAO_ERR_UNAVAILABLE (-4)      /* backend or library missing (no CUDA device, no cuBLASLt) */
#define TAO_ERR_DEVICE_MISMATCH (-5)  /* a pointer is not on the context's device */
#define TAO_ERR_CUDA (-6)             /* CUDA runtime error */
#define TAO_ERR_LIBRARY (-7)          /* cuBLASLt / cuSPARSELt error */
#define TAO_ERR_INTERNAL (-8)         /* a bug in tao */

/* ---------------------------------------------------------------- dtypes */
#define TAO_F32 0
#define TAO_F16 1
#define TAO_BF16 2
#define TAO_F8E4M3FN 3 /* 1-4-3, bias 7, max 448, no inf, NaN = S.1111.111 */
#define TAO_F8E5M2 4   /* 1-5-2, bias 15, max 57344, IEEE-style inf/NaN */
#define TAO_I8 5
#define TAO_U8 6
#define TAO_I32 7
#define TAO_DTYPE_COUNT 8

#define TAO_MAX_DIMS 8

/* Opaque handles. */
typedef struct tao_ctx tao_ctx;
typedef struct tao_event tao_event;
typedef struct tao_graph tao_graph;

/* ---------------------------------------------------------------- library */

/* Message of the last failed call on this thread ("" if none). Valid until the next tao_ call. */
TAO_API const char* tao_last_error(void);
/* Library version, "MAJOR.MINOR.PATCH". */
TAO_API const char* tao_version(void);
/* Does nothing and returns TAO_OK: measures the FFI call overhead. */
TAO_API tao_status tao_noop(void);
/* Writes the capability report (UTF-8 JSON, NUL-terminated) into buf[0..cap). *needed receives the
 * size including the NUL; if cap is too small nothing is written but TAO_OK is returned with *needed
 * set, so callers ask once with cap = 0. JSON keys: version, cpu {features, threads},
 * cuda {compiled, runtime_version, driver_version, error, devices[{index, name, sm, memory_bytes,
 * multiprocessors, l2_bytes}]}, cublaslt {compiled, available, version, error},
 * cusparselt {compiled, available, version, error}. */
TAO_API tao_status tao_capabilities(char* buf, uint64_t cap, uint64_t* needed);
/* Number of usable CUDA devices (0 when the build has no CUDA or the machine has no GPU/driver). */
TAO_API tao_status tao_cuda_device_count(int32_t* out);
/* Sets the number of CPU threads used by CPU kernels (0 = all cores). */
TAO_API tao_status tao_set_cpu_threads(int32_t n);
/* Size in bytes of each element of a dtype. */
TAO_API tao_status tao_dtype_size(int32_t dtype, int32_t* out);

/* ---------------------------------------------------------------- contexts */

/* Creates a context on device -1 (CPU) or CUDA device N >= 0 (with its own non-blocking stream and
 * the device's default stream-ordered memory pool, kept cached between frees). */
TAO_API tao_status tao_ctx_create(int32_t device, tao_ctx** out);
/* Waits for the context's work, then releases its stream, handles and workspace. NULL is a no-op. */
TAO_API tao_status tao_ctx_destroy(tao_ctx* ctx);
/* Device of the context: -1 for CPU, else the CUDA ordinal. */
TAO_API tao_status tao_ctx_device(tao_ctx* ctx, int32_t* out);
/* Blocks until all work enqueued on the context has finished (and reports asynchronous errors). */
TAO_API tao_status tao_ctx_synchronize(tao_ctx* ctx);
/* Device memory of ctx's device held by tao's stream-ordered pool: bytes in use now (*used) and the
 * most in use at once since the last reset (*peak); reset_peak != 0 then starts a new peak from now.
 * CUDA contexts only (the CPU answers TAO_ERR_UNSUPPORTED). Either pointer may be NULL. */
TAO_API tao_status tao_ctx_memory(tao_ctx* ctx, uint64_t* used, uint64_t* peak, int32_t reset_peak);

#define TAO_MATHLIB_CUBLASLT 1
#define TAO_MATHLIB_CUSPARSELT 2
/* Loads cuBLASLt and/or cuSPARSELt (a mask of TAO_MATHLIB_*) and creates the context's handles
 * (and the cuBLASLt workspace) now rather than at the first matmul. A library that cannot be
 * loaded is TAO_ERR_UNAVAILABLE naming it; the CPU context answers TAO_ERR_UNSUPPORTED. */
TAO_API tao_status tao_ctx_init_mathlibs(tao_ctx* ctx, int32_t which);

/* ---------------------------------------------------------------- memory */

/* Allocates `bytes` (> 0) on the context's device, 256-byte aligned (CUDA: stream-ordered on the
 * context's stream; CPU: aligned host memory). A request that cannot be met is
 * TAO_ERR_OUT_OF_MEMORY with the size in the message. */
TAO_API tao_status tao_alloc(tao_ctx* ctx, uint64_t bytes, void** out);
/* Frees memory from tao_alloc of the same context (stream-ordered on CUDA). NULL is a no-op. */
TAO_API tao_status tao_free(tao_ctx* ctx, void* ptr);
#define TAO_COPY_H2D 0 /* host -> context device */
#define TAO_COPY_D2H 1 /* context device -> host; synchronizes the stream before returning */
#define TAO_COPY_D2D 2 /* within the context's device, stream-ordered */
/* Copies `bytes` bytes. On the CPU context all kinds are a memcpy. H2D from pageable host memory
 * returns once the source has been staged, so the caller may reuse it. */
TAO_API tao_status tao_copy(tao_ctx* ctx, void* dst, const void* src, uint64_t bytes, int32_t kind);
/* Sets `bytes` bytes at ptr (context device) to the low 8 bits of `value`. */
TAO_API tao_status tao_memset(tao_ctx* ctx, void* ptr, int32_t value, uint64_t bytes);
/* Reads `bytes` bytes at ptr (context device, 16-byte aligned, bytes a multiple of 16) and discards
 * them. Benchmarks flush the cache with it: a pass over twice the L2 size evicts what L2 held and
 * leaves it holding clean lines, where a memset flush leaves dirty ones that the timed kernel then
 * writes back. (Until 0.1.0 of 2026-12-07 the CUDA pass read nothing: ptxas dropped its unused
 * loads; bench/NOTES.md says which measurements that affected.) On the CPU it reads the bytes too. */
TAO_API tao_status tao_read(tao_ctx* ctx, const void* ptr, uint64_t bytes);

/* ---------------------------------------------------------------- timing */

/* An event marks a point in the context's stream (CUDA event; on the CPU a steady-clock stamp). */
TAO_API tao_status tao_event_create(tao_ctx* ctx, tao_event** out);
TAO_API tao_status tao_event_record(tao_ctx* ctx, tao_event* ev);
/* Milliseconds between two recorded events of one context; waits for `end` to complete. */
TAO_API tao_status tao_event_elapsed_ms(tao_event* start, tao_event* end, float* ms);
TAO_API tao_status tao_event_destroy(tao_event* ev);

/* ---------------------------------------------------------------- CUDA graphs */

/* Starts capturing the context's stream: following ops are recorded, not run. CUDA only; the CPU
 * context answers TAO_ERR_UNSUPPORTED. Ops that must synchronize (D2H copies) fail while capturing. */
TAO_API tao_status tao_graph_begin(tao_ctx* ctx);
/* Ends capture and instantiates the graph. On failure the capture is discarded. */
TAO_API tao_status tao_graph_end(tao_ctx* ctx, tao_graph** out);
/* Replays a graph on the context's stream (asynchronous). */
TAO_API tao_status tao_graph_launch(tao_ctx* ctx, tao_graph* graph);
TAO_API tao_status tao_graph_destroy(tao_graph* graph);

/* ---------------------------------------------------------------- tensor ops */

/* dst[i] = convert(src[i]) for i < n. Float narrowing rounds to nearest even; float8 targets
 * saturate (finite overflow and ±inf become ±max finite, NaN stays NaN), as torchao's
 * to_fp8_saturated does. Float -> integer truncates toward zero and saturates; NaN -> 0.
 * Integer -> float rounds once to nearest even. src == dst only when the dtypes have equal size. */
TAO_API tao_status tao_cast(tao_ctx* ctx, const void* src, int32_t src_dtype, void* dst,
                            int32_t dst_dtype, uint64_t n);

/* dst[i] = value (converted to dtype as by tao_cast from f64 through f32) for i < n. */
TAO_API tao_status tao_fill(tao_ctx* ctx, void* dst, int32_t dtype, uint64_t n, double value);

#define TAO_RANDOM_UNIFORM 0 /* a = low, b = high: low + (high - low) * u, u in [0, 1) */
#define TAO_RANDOM_NORMAL 1  /* a = mean, b = std: mean + std * z, z ~ N(0, 1) by Box-Muller */
/* Counter-based random fill: element i is a pure function of (seed, offset + i) (Philox-4x32-10),
 * computed in float64 with only correctly rounded operations and then rounded to f32 and to the
 * dtype, so the CPU and CUDA produce bit-identical tensors for the same seed. Float dtypes only. */
TAO_API tao_status tao_fill_random(tao_ctx* ctx, void* dst, int32_t dtype, uint64_t n,
                                   uint64_t seed, uint64_t offset, int32_t distribution, double a,
                                   double b);

/* Strided gather into a contiguous tensor: for every index (i0..i{ndim-1}) of `shape`,
 * dst[row-major(i)] = src[sum_d i_d * src_strides[d]] (strides in elements, may be 0 or negative
 * only if the caller keeps every address inside the source allocation). Serves transpose-copy,
 * slicing and broadcasting. ndim in 1..TAO_MAX_DIMS. */
TAO_API tao_status tao_strided_copy(tao_ctx* ctx, const void* src, void* dst, int32_t dtype,
                                    int32_t ndim, const int64_t* shape, const int64_t* src_strides);

/* ---------------------------------------------------------------- dense linear */

/* y[M, N] = x[M, K] · w[N, K]ᵀ (+ bias[N]): PyTorch's F.linear with the weight in [out, in] layout.
 * x, w, bias and y share one float dtype (TAO_F32, TAO_F16 or TAO_BF16), are contiguous and
 * row-major; products accumulate in f32 and y is rounded once to the dtype (bias added in f32
 * before that rounding). bias may be NULL. M, N, K >= 1.
 * CPU: blocked, multithreaded, AVX-512 / AVX2 chosen at run time. CUDA: cuBLASLt (TAO_ERR_UNAVAILABLE
 * names it when it cannot be loaded); f32 runs in full f32 (no TF32); M = 1 in bf16/f16 with K % 8 == 0
 * and 16-byte-aligned x and w runs a warp-per-column GEMV of tao's own (deterministic). */
TAO_API tao_status tao_linear(tao_ctx* ctx, const void* x, const void* w, const void* bias, void* y,
                              int32_t dtype, int64_t m, int64_t n, int64_t k);

/* ---------------------------------------------------------------- int4 tensor-core-tiled layout */

/* PyTorch's tinygemm int4 weight layout, byte for byte what torch.ops.aten._convert_weight_to_int4pack
 * produces (so weights packed by PyTorch/torchao load as they are). A plain weight q[n][k] of uint4
 * values (one per byte, low 4 bits used) becomes int32 packed[n/8][k/(T*16)][32][T/2] for
 * T = inner_k_tiles in {2, 4, 8}: word (nt, ko, t, j) holds row n0 = 8·nt + t/4 at
 * k = 16·(ko·T + 2j) + 2·(t%4) + {0, 8, 16, 24} in nibbles 0-3 and the next k (+1) in nibbles 4-7.
 * n must be a multiple of 8 and k of T·16. */
TAO_API tao_status tao_pack_int4_tensor_core_tiled(tao_ctx* ctx, const void* q, void* packed, int64_t n,
                                                  int64_t k, int32_t inner_k_tiles);
/* The inverse: q[n][k] (u8, values 0..15) from the packed layout. */
TAO_API tao_status tao_unpack_int4_tensor_core_tiled(tao_ctx* ctx, const void* packed, void* q, int64_t n,
                                                    int64_t k, int32_t inner_k_tiles);
/* Unpack fused with tinygemm's dequantization: out[n][k] (bf16) = bf16((q - 8) · scale + zero) with one
 * f32 fused multiply-add, scale and zero from scales_and_zeros (bf16 [k/group][n][2], torchao's
 * pack_tinygemm_scales_and_zeros). Equals tao_dequantize_affine in the FLOAT zero-point domain on the
 * plain values, and tinygemm's own dequantization, bit for bit. group_size in {32, 64, 128, 256}. */
TAO_API tao_status tao_dequantize_int4_tensor_core_tiled(tao_ctx* ctx, const void* packed,
                                                        const void* scales_and_zeros, void* out, int64_t n,
                                                        int64_t k, int32_t inner_k_tiles, int32_t group_size);

/* y[m, n] = x[m, k] · Wᵀ (+ bias[n]) for an int4 weight W in the tensor-core-tiled layout (packed,
 * scales_and_zeros as for tao_dequantize_int4_tensor_core_tiled); x, bias and y of `dtype`, TAO_BF16 or
 * TAO_F16. Products accumulate in f32, the bias is added in f32 and y is rounded once. The weight:
 *  - CPU, and CUDA for small m: (q - 8)·scale + zero in f32, never rounded to dtype; W is never
 *    materialized (CUDA: the packed words feed the tensor cores as they are, at memory speed). Small
 *    m is m <= 32, or m <= 16 on Hopper;
 *  - CUDA for larger m: tinygemm's bf16 weight (q - 8)·scale + zero rounded once (for f16 x then
 *    rounded to f16). On Hopper (sm_90a builds), up to m = 1024, it is made in registers by one bf16
 *    fma and feeds wgmma directly; otherwise
 *    tao_dequantize_int4_tensor_core_tiled writes it (f32 fma, then bf16: the same value except where
 *    that double rounding lands on a tie) to a scratch buffer and the product runs in cuBLASLt. */
TAO_API tao_status tao_linear_int4_tensor_core_tiled(tao_ctx* ctx, const void* x, const void* packed,
                                                    const void* scales_and_zeros, const void* bias, void* y,
                                                    int32_t dtype, int64_t m, int64_t n, int64_t k,
                                                    int32_t inner_k_tiles, int32_t group_size);

/* ---------------------------------------------------------------- float8 (e4m3) quantization and matmul */

/* Dynamic float8 quantization (torchao's float8 absmax scaling): for each row (rowwise = 1, scale [m])
 * or for the whole tensor (rowwise = 0, scale [1]) of x [m, k] (`dtype` TAO_F32, TAO_F16 or TAO_BF16):
 *   amax = max |x| over the row / tensor (f32), s = max(amax / 448, 1e-12), q = saturate_e4m3(x / s)
 * (each step one f32 operation, round to nearest even; q is TAO_F8E4M3FN bytes [m, k], scale f32).
 * Defined cases: a zero row gets s = 1e-12 and q = 0 (no NaN); an inf makes its row's (tensor's) amax
 * and s inf, so its finite values quantize to 0 and the infs to NaN; a NaN makes its row's (tensor's)
 * amax and s NaN and every q of it NaN (as torch.amax propagates NaN). Output rows with a NaN scale are
 * NaN in tao_linear_f8_f8. CUDA: one pass per row (rowwise), two passes (per tensor). */
TAO_API tao_status tao_quantize_f8(tao_ctx* ctx, const void* x, int32_t dtype, void* q, float* scale, int64_t m,
                                   int64_t k, int32_t rowwise);

/* y[m, n] = dtype(xscale_i · wscale_j · Σ_t xq[i, t] · wq[j, t] + bias[j]) for e4m3 xq [m, k] and wq [n, k]
 * (row-major, PyTorch's torch._scaled_mm(xq, wq.T) with a bias), scales f32: xscale [m] if x_rowwise else
 * [1], wscale [n] if w_rowwise else [1]. bias (`dtype`, [n]) may be NULL; y is `dtype` (TAO_BF16, TAO_F16
 * or TAO_F32) [m, n]. Products of e4m3 values are exact; the CPU sums them in f32. CUDA's FP8 tensor cores
 * keep about 14 significant bits in their accumulators between cuBLASLt's promotions to f32 (errors up to
 * ~2^-10.6·Σ|x·w| seen on an H100; fast_accum = 1, torch's use_fast_accum, promotes less often). y is
 * rounded once. CUDA needs compute capability 8.9+ (else TAO_ERR_UNSUPPORTED): cuBLASLt FP8 with scale pointers
 * (per tensor) or outer-vector scales (row-wise), or an f32 product and an epilogue kernel for the
 * scales and bias; k not a multiple of 16 runs a plain CUDA kernel. CPU: e4m3 decoded to f32, f32 FMA
 * sums, multithreaded (a reference more than a fast path). */
TAO_API tao_status tao_linear_f8_f8(tao_ctx* ctx, const void* xq, const float* xscale, int32_t x_rowwise,
                                    const void* wq, const float* wscale, int32_t w_rowwise, const void* bias, void* y,
                                    int32_t dtype, int64_t m, int64_t n, int64_t k, int32_t fast_accum);

/* ---------------------------------------------------------------- int8 weight-only linear */

/* torchao's int8_weight_only linear: y[m, n] = (Σ_k x[m, k] · q[n, k]) · scale[n] (+ bias[n]) for an
 * int8 weight q (row-major [n, k], symmetric per output channel, zero point 0). x, scale, bias and y
 * of `dtype`, TAO_BF16 or TAO_F16; exact products accumulated in f32, scaled and biased in f32,
 * rounded once. CUDA for m > 32 instead multiplies by the weight dtype(q·scale) (rounded once) in
 * cuBLASLt. Any m, any n >= 1, k >= 1. */
TAO_API tao_status tao_linear_int8_weight_only(tao_ctx* ctx, const void* x, const void* q, const void* scale,
                                              const void* bias, void* y, int32_t dtype, int64_t m, int64_t n,
                                              int64_t k);

/* ---------------------------------------------------------------- W8A8 int8 (dynamic activations) */

/* torchao's per-token symmetric int8 activation quantization (_int8_symm_per_token_reduced_range_quant:
 * MappingType.SYMMETRIC, quant_min = -127, quant_max = 127, eps = 1e-5, one scale per row), with
 * SmoothQuant's equalization fused in. x is [m, k] of dtype TAO_F32, TAO_F16 or TAO_BF16; smooth is
 * f32 [k] or NULL; q is i8 [m, k]; scale is f32 [m]. Every step is f32, rounded as written:
 *   v[j]     = x[i, j]                            (smooth == NULL)
 *            = x[i, j] * (1 / smooth[j])          (both the reciprocal and the product rounded)
 *   amax     = max_j |v[j]|                       (NaN-propagating: a NaN in the row wins)
 *   scale[i] = max(amax / 127, 1e-5f)             (a NaN amax stays NaN)
 *   q[i, j]  = clamp(rint(v[j] * (1 / scale[i])), -127, 127), rint half to even, NaN -> 0
 * These are the formulas of tao_choose_qparams_affine + tao_quantize_affine (SYMMETRIC, INT domain,
 * i8 -127..127, eps 1e-5, f32 scale; not cross-checked by a test yet). (torchao computes the bf16 case in bf16 and rounds the scale to
 * bf16; ours stays f32.) Defined edge cases: an all-zero row has scale 1e-5 and q = 0 (no NaN); a
 * row holding +-inf (and no NaN) has scale = +inf and q = 0 everywhere; a row holding a NaN has
 * scale = NaN and q = 0 everywhere. Fed to tao_linear_int8_int8, both give an all-NaN output row,
 * as the float product would give NaN/inf. M, K >= 1. */
TAO_API tao_status tao_quantize_rows_int8(tao_ctx* ctx, const void* x, int32_t dtype, const float* smooth, int8_t* q,
                                          float* scale, int64_t m, int64_t k);

/* W8A8 linear (torchao's int8_dynamic_activation_int8_weight): y[m, n] = xscale[i] * wscale[j] *
 * (sum_k xq[i, k] * wq[n, k]) + bias[j] for int8 activations xq [m, k] (one f32 scale per row, as from
 * tao_quantize_rows_int8) and an int8 weight wq [n, k] (row-major, symmetric per output channel, one
 * f32 scale per row). The sum is exact in int32 (any int8 values; k <= 131072 so it cannot
 * overflow). bias and y are of dtype TAO_BF16, TAO_F16 or TAO_F32; bias may be NULL. The epilogue
 * is f32 with each step rounded as written, identical on the CPU and CUDA:
 *   y = dtype(((float)acc * (xscale[i] * wscale[j])) + bias[j])
 * so for bf16/f16 y is the exactly rounded result up to a few f32 ulps. CPU: AVX-512 VNNI
 * (vpdpbusd) or AVX2 (vpmaddwd), multithreaded. CUDA: cuBLASLt int8 tensor cores (IMMA) into an
 * int32 scratch buffer, then one epilogue pass (TAO_ERR_UNAVAILABLE when the cuBLASLt library
 * cannot be loaded; a build without its headers, or a shape it has no algorithm for, runs a slow
 * exact int32 kernel instead); K not a multiple of 4 or unaligned rows are zero-padded in scratch. */
TAO_API tao_status tao_linear_int8_int8(tao_ctx* ctx, const int8_t* xq, const float* xscale, const int8_t* wq,
                                        const float* wscale, const void* bias, void* y, int32_t dtype, int64_t m,
                                        int64_t n, int64_t k);

/* ---------------------------------------------------------------- 2:4 semi-structured sparsity */

/* A 2:4 sparse weight W [n, k] (k a multiple of 4) keeps at most 2 of every 4 consecutive values of a
 * row (a "group"). Its compressed form: values [n, k/2] (the weight's dtype) hold the 2 kept values of
 * group g at 2g and 2g + 1, in increasing k; meta (u8 [n, k/4]) holds one byte per group,
 * i0 | (i1 << 2) with i0 < i1 the positions (0..3) of the kept values inside the group.
 * Which 2 are kept: the 2 largest scores |w[i, 4g + t]| · (col_scale ? col_scale[4g + t] : 1) (f32),
 * ties to the lower t, NaN above everything (WeightNormSparsifier's 2:4 magnitude rule; with col_scale
 * = ‖X_j‖₂ it is Wanda's score). */

/* mask [n, k] (u8, 1 = kept, 0 = pruned) of the 2:4 rule above for w [n, k] of dtype TAO_F32, TAO_F16,
 * TAO_BF16 or TAO_I8; col_scale is f32 [k] or NULL. */
TAO_API tao_status tao_sparse24_mask(tao_ctx* ctx, const void* w, int32_t dtype, const float* col_scale, uint8_t* mask,
                                     int64_t n, int64_t k);
/* x[i] = mask[i] ? x[i] : 0 for i < numel, in place (any dtype; the zero is the dtype's +0). */
TAO_API tao_status tao_apply_mask(tao_ctx* ctx, void* x, int32_t dtype, const uint8_t* mask, uint64_t numel);
/* acc[j] += Σ_i x[i, j]² for x [m, k] (TAO_F32, TAO_F16 or TAO_BF16), acc f32 [k]; the column sums
 * are f32 (the order of the additions is the backend's), then added to acc (Wanda's ‖X_j‖₂² statistic). */
TAO_API tao_status tao_column_sq_sum(tao_ctx* ctx, const void* x, int32_t dtype, float* acc, int64_t m, int64_t k);
/* Compressed form (values, meta) of w [n, k] (TAO_F32, TAO_F16, TAO_BF16 or TAO_I8): the 2 values of
 * each group the 2:4 rule keeps (without col_scale), so a 2:4 weight compresses without loss and a
 * dense one is magnitude-pruned on the way. */
TAO_API tao_status tao_sparse24_compress(tao_ctx* ctx, const void* w, int32_t dtype, void* values, uint8_t* meta,
                                         int64_t n, int64_t k);
/* The dense w [n, k] of a compressed form (zeros where nothing is kept). A meta byte decodes as
 * i0 = b & 3, i1 = (b >> 2) & 3 (value 2g to i0, then 2g + 1 to i1): bytes compress never writes give
 * some dense weight, never a fault, the same on every backend. */
TAO_API tao_status tao_sparse24_decompress(tao_ctx* ctx, const void* values, const uint8_t* meta, int32_t dtype, void* w,
                                           int64_t n, int64_t k);
/* y[m, n] = x[m, k] · Wᵀ (+ bias[n]) for a compressed 2:4 W (values, meta), x, bias, y of `dtype`
 * (TAO_F32, TAO_F16, TAO_BF16): f32 products of the kept values only (half the MACs), summed in f32,
 * bias added in f32, one rounding; k <= 2^25. CPU: multithreaded AVX-512 / AVX2 kernel over k-major x.
 * CUDA: with 16-bit x, m <= 32, k a multiple of 32, values 16-byte and meta 8-byte aligned, a tensor-core
 * kernel reading values and meta (the stored values exactly, f32 accumulation); else the dense weight in
 * scratch and tao_linear (cuSPARSELt takes tao_linear_cusparselt). */
TAO_API tao_status tao_linear_sparse24(tao_ctx* ctx, const void* x, const void* values, const uint8_t* meta,
                                       const void* bias, void* y, int32_t dtype, int64_t m, int64_t n, int64_t k);

/* cuSPARSELt (CUDA contexts; TAO_ERR_UNAVAILABLE naming libcusparseLt when it cannot be loaded, the
 * CPU context answers TAO_ERR_UNSUPPORTED). dtype of the weight: TAO_BF16 or TAO_I8 (TAO_F16 is
 * TAO_ERR_UNSUPPORTED: cuSPARSELt 0.8's f16 kernels faulted with an illegal instruction on an H100). A shape
 * cuSPARSELt refuses (n, k not multiples of 16 for bf16, 32 for int8, or other limits of the
 * installed version) is TAO_ERR_UNSUPPORTED naming it; callers fall back to tao_linear_sparse24. */

/* Bytes of cuSPARSELt's compressed form of an [n, k] 2:4 weight of dtype. */
TAO_API tao_status tao_cusparselt_packed_size(tao_ctx* ctx, int32_t dtype, int64_t n, int64_t k, uint64_t* bytes);
/* packed (device, tao_cusparselt_packed_size bytes) = cuSPARSELt's compressed form of the 2:4 weight
 * given as (values, meta). */
TAO_API tao_status tao_cusparselt_pack(tao_ctx* ctx, const void* values, const uint8_t* meta, int32_t dtype, int64_t n,
                                       int64_t k, void* packed);
/* y[m, n] = x[m, k] · Wᵀ (+ bias[n]) on the sparse tensor cores, W from tao_cusparselt_pack; x, bias,
 * y of dtype TAO_BF16; f32 accumulation, the bias (broadcast into y first) added in f32 by
 * cuSPARSELt's epilogue as beta · C, one rounding. Any m >= 1 (m not a multiple of 32 runs on
 * zero-padded copies of x and y). The plan is cached in the context per (m rounded up to 32, n, k,
 * dtype); its first call also runs cusparseLtMatmulSearch (timing the candidate algorithms: it
 * synchronizes; skipped while a graph is being captured). */
TAO_API tao_status tao_linear_cusparselt(tao_ctx* ctx, const void* x, const void* packed, const void* bias, void* y,
                                         int32_t dtype, int64_t m, int64_t n, int64_t k);
/* W8A8 with a 2:4 int8 weight (packed from an int8 weight), acc = Σ xq[i, t] · W[j, t] (exact int32):
 *   y of dtype TAO_F32: y = ((float)acc · (xscale[i] · wscale[j])) + bias[j], exactly as tao_linear_int8_int8;
 *   y of dtype TAO_BF16 / TAO_F16: cuSPARSELt writes D = bf16(wscale[j] · acc) (its alpha vector, as
 *   torchao's _cslt_sparse_mm(alpha = w scales, out_dtype)), then y = dtype(((float)D · xscale[i]) + bias[j]):
 *   one more rounding than tao_linear_int8_int8 (a relative 2^-9 of |acc · scales| at most), and half
 *   the bytes of an int32 D. Same plan cache as tao_linear_cusparselt. */
TAO_API tao_status tao_linear_int8_cusparselt(tao_ctx* ctx, const int8_t* xq, const float* xscale, const void* packed,
                                              const float* wscale, const void* bias, void* y, int32_t dtype, int64_t m,
                                              int64_t n, int64_t k);

/* ---------------------------------------------------------------- affine quantization */

#define TAO_MAPPING_SYMMETRIC 0
#define TAO_MAPPING_SYMMETRIC_NO_CLIPPING_ERR 1
#define TAO_MAPPING_ASYMMETRIC 2

#define TAO_ZERO_POINT_INT 0   /* q = clamp(round(x / s) + zp);     x = (q - zp) * s */
#define TAO_ZERO_POINT_FLOAT 1 /* q = clamp(round((x - (zp - s*mid)) / s)); x = (q - mid) * s + zp,
                                  mid = (qmax + qmin + 1) / 2 — tinygemm's convention */
#define TAO_ZERO_POINT_NONE 2  /* q = clamp(round(x / s));            x = q * s */

/* Arguments of the affine quantization primitives (torchao's quant_primitives). Every field is
 * 8 bytes. The input has `ndim` dims of `shape`; `block_size[d]` (>= 1, dividing shape[d]) says how
 * many elements along d share one (scale, zero_point); scale and zero_point are contiguous tensors
 * of shape shape[d] / block_size[d]. Per-tensor: block = shape; per-row of a 2-D [N, K]: (1, K);
 * per-group g: (1, g).
 *
 * target_dtype is the value type the quantized data represents: TAO_I8/TAO_U8/TAO_I32 integers in
 * [quant_min, quant_max] (int4/uint4 and other sub-byte ranges are expressed through
 * quant_min/quant_max and stored in i8/u8/i32), or TAO_F8E4M3FN/TAO_F8E5M2 (then the mapping must
 * be symmetric, zero points are NONE, quant_min/quant_max = -/+ the format's max finite value, and
 * q = saturate_cast(x / s)). All arithmetic is float32, each step rounded as written; the results
 * are then rounded once to scale_dtype / zero_point_dtype. */
typedef struct tao_affine_args {
  int64_t ndim;
  int64_t shape[TAO_MAX_DIMS];
  int64_t block_size[TAO_MAX_DIMS];
  int64_t mapping_type;      /* TAO_MAPPING_* (choose_qparams only) */
  int64_t zero_point_domain; /* TAO_ZERO_POINT_* */
  int64_t preserve_zero;     /* 1: widen [min, max] to include 0 (choose_qparams only) */
  int64_t target_dtype;      /* TAO_I8/U8/I32/F8E4M3FN/F8E5M2 */
  int64_t quant_min;
  int64_t quant_max;
  double eps;                 /* lower bound of every scale (choose_qparams only) */
  const void* input;          /* choose/quantize/fake: float input; dequantize: quantized data */
  int64_t input_dtype;
  void* output;               /* quantize: quantized data; dequantize/fake: float output */
  int64_t output_dtype;
  void* scale;                /* f32, f16 or bf16 */
  int64_t scale_dtype;
  void* zero_point;           /* INT domain: i8/u8/i32; FLOAT domain: f32/f16/bf16; NONE: NULL */
  int64_t zero_point_dtype;
} tao_affine_args;

/* sizeof(tao_affine_args), for FFI layout checks. */
TAO_API tao_status tao_affine_args_size(int64_t* out);

/* Computes scale (and zero_point) per block from the input's min/max, torchao semantics:
 *   mn = min(block), mx = max(block); preserve_zero: mn = min(mn, 0), mx = max(mx, 0)
 *   SYMMETRIC:              s = max(-mn, mx) / ((qmax - qmin) / 2)
 *   SYMMETRIC_NO_CLIPPING:  s = max(mn / qmin, mx / qmax)
 *   ASYMMETRIC:             s = (mx - mn) / (qmax - qmin)
 *   s = max(s, eps)
 *   zero point: symmetric INT -> trunc((qmax + qmin + 1) / 2) (Python's int()); asymmetric INT ->
 *   clamp(qmin - round(mn / s), qmin, qmax); FLOAT -> mn + s * mid; NONE -> none.
 * Symmetric mappings need preserve_zero = 1 and an INT or NONE domain; FLOAT needs asymmetric.
 * A NaN in a block makes that block's scale NaN (as torch.amin/amax propagate NaN). */
TAO_API tao_status tao_choose_qparams_affine(tao_ctx* ctx, const tao_affine_args* args);
/* output (target values stored as output_dtype) = quantize(input) with the block's scale/zero point:
 *   INT:   clamp(round(x * (1 / s)) + zp, qmin, qmax)     (round = half to even)
 *   FLOAT: clamp(round((x - (zp - s * mid)) / s), qmin, qmax)
 *   NONE:  clamp(round(x * (1 / s)), qmin, qmax)
 *   float8 target: saturate_cast(x / s). NaN inputs quantize to clamp(0, qmin, qmax) (integers) or NaN (float8). */
TAO_API tao_status tao_quantize_affine(tao_ctx* ctx, const tao_affine_args* args);
/* output (float dtype) = dequantize(input), input holding quantized values in input_dtype:
 *   INT: (q - zp) * s; FLOAT: (q - mid) * s + zp (one fused multiply-add); NONE / float8: q * s. */
TAO_API tao_status tao_dequantize_affine(tao_ctx* ctx, const tao_affine_args* args);
/* output = dequantize(quantize(input)) in one pass, without materializing the quantized tensor. */
TAO_API tao_status tao_fake_quantize_affine(tao_ctx* ctx, const tao_affine_args* args);

/* ---------------------------------------------------------------- transformer (Llama) ops */

/* Float dtypes of these ops: TAO_F32, TAO_F16 or TAO_BF16; all tensors are contiguous, row-major, and
 * arithmetic is f32 with one rounding to the dtype at the end unless stated. "Position buffers" are
 * int32 [1] on the context's device (host memory for the CPU context) read when the op runs, so a
 * captured CUDA graph replays at whatever position the buffer holds. */

/* out[i, :] = table[ids[i], :] for i < n: ids int32 [n], table [vocab, dim] of dtype, out [n, dim].
 * CPU: an id outside [0, vocab) is TAO_ERR_INVALID_ARGUMENT naming it (nothing written). CUDA: the ids
 * are on the device and are not read back; an out-of-range id writes a row of zeros (the read is
 * bounds-checked, never a fault) — validate ids on the host before uploading them. */
TAO_API tao_status tao_embedding(tao_ctx* ctx, const int32_t* ids, int64_t n, const void* table, int32_t dtype,
                                 int64_t vocab, int64_t dim, void* out);

/* RMSNorm (Llama): y[r, j] = dtype(x[r, j] · inv · weight[j]) with inv = 1 / sqrt(Σ_j x[r, j]² / dim + eps),
 * the sum in f32 (order is the backend's), the products f32 in that order, one rounding. x, y [rows, dim]
 * and weight [dim] share `dtype`; y may equal x (in place). eps >= 0. */
TAO_API tao_status tao_rms_norm(tao_ctx* ctx, const void* x, const void* weight, void* y, int32_t dtype, int64_t rows,
                                int64_t dim, double eps);

#define TAO_ROPE_INTERLEAVED 0 /* pairs (2i, 2i + 1): Meta's llama and llama2.c */
#define TAO_ROPE_HALF 1        /* pairs (i, i + head_dim/2): Hugging Face's rotate_half */
/* Rotary embedding of x [batch, seq, heads, head_dim] (head_dim even) into y (y may equal x): pair i of
 * the token at (b, t) is rotated by angle pos · theta^(-2i / head_dim), where
 *   pos = positions[b·seq + t]                 (positions: int32 [batch, seq], when not NULL)
 *       = (position ? position[0] : 0) + offset + t   (otherwise; position a position buffer).
 * Token rows of x and y are `stride` elements apart (>= heads·head_dim; heads·head_dim when contiguous),
 * so the q and k heads of a fused q|k|v projection [batch, seq, (Hq + 2·Hkv)·head_dim] rotate in place
 * in one call: heads = Hq + Hkv, stride = (Hq + 2·Hkv)·head_dim (the v heads are not touched).
 * The angle, its cos and sin are computed in f64 and rounded to f32; then y0 = x0·c − x1·s and
 * y1 = x0·s + x1·c in f32 (each product and sum rounded, no fma), one rounding to dtype. */
TAO_API tao_status tao_rope(tao_ctx* ctx, const void* x, void* y, int32_t dtype, int64_t batch, int64_t seq,
                            int64_t heads, int64_t head_dim, int64_t stride, const int32_t* positions,
                            const int32_t* position, int64_t offset, double theta, int32_t style);

/* Attention over a (possibly larger, static) KV cache, in tao_attention_args (every field 8 bytes):
 *   q [batch, q_len, q_heads, head_dim] with token rows q_stride elements apart (>= q_heads·head_dim:
 *   the q heads of a fused q|k|v projection's output read in place), out [batch, q_len, q_heads, head_dim]
 *   contiguous; k, v [batch, kv_capacity, kv_heads, head_dim],
 *   of which rows [0, kv_len) may be read (kv_len <= kv_capacity). q_heads is a multiple of kv_heads
 *   (grouped-query attention: q head h reads kv head h / (q_heads / kv_heads)).
 *   The query t sits at absolute position p_t = q_offset + (position ? position[0] : 0) + t; with causal
 *   it attends keys s < min(kv_len, p_t + 1), else keys s < kv_len. A query with no key gets 0.
 *   out = softmax(scale · q·kᵀ) · v, scores, softmax and sums in f32, one rounding.
 * CPU: multithreaded over (batch, t, head), two-pass softmax. CUDA: one flash-style kernel (K/V tiles in
 * shared memory, online softmax, the q heads sharing a kv head in one block) whose key range is split
 * over blocks when there are few queries (flash-decoding: f32 partials per split + a combine kernel);
 * the grid depends only on the sizes, never on `position`, so decode steps replay from one graph.
 * CUDA needs head_dim <= 256. */
typedef struct tao_attention_args {
  const void* q;
  const void* k;
  const void* v;
  void* out;
  int64_t dtype;
  int64_t batch;
  int64_t q_len;
  int64_t kv_len;
  int64_t kv_capacity;
  int64_t q_heads;
  int64_t kv_heads;
  int64_t head_dim;
  int64_t q_offset;        /* >= 0 */
  const int32_t* position; /* position buffer or NULL */
  double scale;            /* usually 1 / sqrt(head_dim) */
  int64_t causal;          /* 0 or 1 */
  int64_t q_stride;        /* elements from one token's q row to the next, >= q_heads·head_dim */
} tao_attention_args;
/* sizeof(tao_attention_args), for FFI layout checks. */
TAO_API tao_status tao_attention_args_size(int64_t* out);
TAO_API tao_status tao_attention(tao_ctx* ctx, const tao_attention_args* args);

/* KV-cache append: rows p .. p + seq - 1 of k_cache, v_cache [batch, capacity, heads, head_dim] get
 * k, v [batch, seq, heads, head_dim] (all of dtype), p = (position ? position[0] : 0) + offset. The
 * token rows of k and of v are src_stride elements apart (>= heads·head_dim): k and v may point into a
 * fused q|k|v projection's output (k at column Hq·head_dim, v at (Hq + Hkv)·head_dim, src_stride its
 * row length). CPU: a range outside [0, capacity) is TAO_ERR_INVALID_ARGUMENT. CUDA: rows outside it
 * are not written. */
TAO_API tao_status tao_kv_append(tao_ctx* ctx, const void* k, const void* v, void* k_cache, void* v_cache, int32_t dtype,
                                 int64_t batch, int64_t seq, int64_t capacity, int64_t heads, int64_t head_dim,
                                 int64_t src_stride, const int32_t* position, int64_t offset);

/* p[i] += delta for i < n (int32, wrapping): advances position buffers inside a captured graph. */
TAO_API tao_status tao_increment_i32(tao_ctx* ctx, int32_t* p, int64_t n, int32_t delta);

#define TAO_BINARY_ADD 0      /* y = a + b */
#define TAO_BINARY_MUL 1      /* y = a · b */
#define TAO_BINARY_SILU_MUL 2 /* y = silu(a) · b, silu(a) = a / (1 + exp(−a)) (SwiGLU's gate) */
/* Elementwise y[i] = op(a[i], b[i]) for i < n, a, b, y of dtype, f32 arithmetic, one rounding (ADD and
 * MUL give the same bits on every backend; SILU_MUL's exp is the backend's expf). y may equal a or b. */
TAO_API tao_status tao_binary(tao_ctx* ctx, int32_t op, const void* a, const void* b, void* y, int32_t dtype,
                              uint64_t n);
/* tao_binary over rows: y[r·y_stride + j] = op(a[r·a_stride + j], b[r·b_stride + j]) for r < rows,
 * j < cols (strides in elements, each >= cols). SwiGLU of a fused gate|up projection x [rows, 2·cols]:
 * op SILU_MUL, a = x, b = x + cols, a_stride = b_stride = 2·cols, y [rows, cols]. y may equal a or b
 * only with the same stride. */
TAO_API tao_status tao_binary_rows(tao_ctx* ctx, int32_t op, const void* a, const void* b, void* y, int32_t dtype,
                                   int64_t rows, int64_t cols, int64_t a_stride, int64_t b_stride, int64_t y_stride);

/* out[r] = the index of the largest x[r, j] (x [rows, n] of dtype, out int32 [rows]); ties go to the
 * lowest index, NaN counts as the largest (torch.argmax). Same result on every backend. */
TAO_API tao_status tao_argmax(tao_ctx* ctx, const void* x, int32_t dtype, int64_t rows, int64_t n, int32_t* out);

/* Samples one token per row of logits [rows, vocab] (dtype) into out int32 [rows]: from
 * softmax(logits / temperature) restricted to the top_k largest logits (all logits equal to the k-th
 * largest are kept, as Hugging Face's TopKLogitsWarper; top_k <= 0 or >= vocab keeps all), by the
 * Gumbel-max rule: out = argmax_j (f32(logit_j / temperature) + g_j) over the kept j, ties to the lowest
 * j, g_j = −log(−log(u)) in f64 with u = (w + 0.5)·2^-32 and w word 0 of Philox-4x32-10 with key = seed
 * and counter = (step · rows + r) · vocab + j, step = position ? position[0] : 0 (a position buffer, so
 * a replayed graph draws fresh numbers each step). Only correctly rounded operations, so the CPU and
 * CUDA pick the same token for the same logits and seed. temperature <= 0 is argmax (tao_argmax). NaN
 * logits are never kept. */
TAO_API tao_status tao_sample(tao_ctx* ctx, const void* logits, int32_t dtype, int64_t rows, int64_t vocab,
                              double temperature, int32_t top_k, uint64_t seed, const int32_t* position,
                              int32_t* out);

/* ---------------------------------------------------------------- NF4 (QLoRA's 4-bit NormalFloat) */
/* Weight w [n, k] row-major, k a multiple of 64, in blocks of 64 along k: block b = r·(k/64) + c/64.
 * Code values: the 16 levels of bitsandbytes/QLoRA as f32, ascending: -1, -0.6961928009986877,
 * -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334,
 * -0.09105003625154495, 0 (code 7), 0.07958029955625534, 0.16093020141124725, 0.24611230194568634,
 * 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1. Plain form:
 * codes u8 [n, k] (0..15) and absmax f32 [n·k/64]. Packed form: packed u8 [n, k/2], byte j of a row holds
 * element 2j in its high nibble and 2j+1 in its low one (bitsandbytes' order); the absmax are double-
 * quantized in groups of 256 consecutive blocks (the last group may be short), g = b / 256:
 *   offset[g] = f32(Σ absmax / count) (f64 sum in block order), d = absmax − offset[g] (f32),
 *   scale2[g] = max|d| / 127, qscale[b] = clamp(rint(d / scale2[g]), −127, 127) (0 when scale2 is 0), i8;
 *   scale(b) = fma(qscale[b], scale2[g], offset[g]) and w = f32(code[q] · scale(b)).
 * bitsandbytes and torchao subtract one mean over the whole tensor; the offset per group here keeps a
 * group self-contained (one pass, no tensor-wide reduction). Every step is a correctly rounded f32 (or
 * f64) operation: CPU and CUDA give the same bits. */

/* NF4 plain form of w [n, k] (`dtype` TAO_F32, TAO_F16 or TAO_BF16): absmax[b] = max |w| over block b
 * (NaN ignored), codes[r, c] = the code nearest to f32(w / absmax) (0 when absmax is 0; halfway rounds to
 * the lower code; NaN → 0). k a multiple of 64. */
TAO_API tao_status tao_nf4_quantize(tao_ctx* ctx, const void* w, int32_t dtype, int64_t n, int64_t k, uint8_t* codes,
                                    float* absmax);
/* Plain → packed NF4 (nibbles and double-quantized absmax, as above): packed u8 [n, k/2], qscale i8
 * [n·k/64], scale2 and offset f32 [ceil(n·k/64 / 256)]. Only the low 4 bits of each code are stored. */
TAO_API tao_status tao_nf4_pack(tao_ctx* ctx, const uint8_t* codes, const float* absmax, int64_t n, int64_t k,
                                uint8_t* packed, int8_t* qscale, float* scale2, float* offset);
/* Packed → plain NF4: codes u8 [n, k] and absmax[b] = scale(b), the double-quantized block scales. */
TAO_API tao_status tao_nf4_unpack(tao_ctx* ctx, const uint8_t* packed, const int8_t* qscale, const float* scale2,
                                  const float* offset, int64_t n, int64_t k, uint8_t* codes, float* absmax);
/* out [n, k] (`dtype` TAO_F32, TAO_F16 or TAO_BF16) = the NF4 weight, w = f32(code · scale(b)) rounded once. */
TAO_API tao_status tao_dequantize_nf4(tao_ctx* ctx, const uint8_t* packed, const int8_t* qscale, const float* scale2,
                                      const float* offset, int64_t n, int64_t k, void* out, int32_t dtype);
/* y[m, n] = Σ_k x[m, k] · w[n, k] (+ bias[n]) with w the NF4 weight decoded to f32 on the fly (as
 * tao_dequantize_nf4), products summed in f32, bias added in f32, y rounded once. x, bias, y of `dtype`:
 * TAO_F32, TAO_F16 or TAO_BF16. CUDA with 16-bit x, m <= 32: a fused tensor-core kernel whose weight is
 * each level rounded to `dtype` with the block's f32 scale applied to the f32 sum of that block's
 * products (y = Σ_b scale(b) · Σ_k dtype(level)·x); larger m or f32 x: the weight is dequantized to
 * `dtype` (rounded once) into scratch and multiplied by tao_linear (cuBLASLt). */
TAO_API tao_status tao_linear_nf4(tao_ctx* ctx, const void* x, const uint8_t* packed, const int8_t* qscale,
                                  const float* scale2, const float* offset, const void* bias, void* y, int32_t dtype,
                                  int64_t m, int64_t n, int64_t k);

/* ---------------------------------------------------------------- GPTQ */
/* GPTQ (Frantar et al. 2022) of a weight w [n, k] from the inputs x of its layer, in three ops:
 * tao_gptq_hessian accumulates H = 2·XᵀX / rows over the calibration batches; tao_gptq_factor gives the
 * column order and the upper Cholesky factor U of the damped inverse Hessian; tao_gptq_quantize sweeps
 * the columns in that order, a block at a time, rounding each to `bits`-bit values and feeding its error
 * forward through U. All f32 except the factorization (f64). The output has the FLOAT zero point of
 * tinygemm's int4 and of uintx's TAO_ZERO_POINT_FLOAT: w ≈ (q − mid)·s + z, q in 0 .. max = 2^bits − 1,
 * mid = 2^(bits−1) (8 at 4 bits), s and z per group of group_size along k, bf16-representable. */

/* h [k, k] f32 = beta·h + alpha·xᵀx for x [rows, k] of `dtype` (TAO_F32, TAO_F16 or TAO_BF16): for each
 * (i, j) the products x[t, i]·x[t, j] are summed by fused multiply-adds in row order t from 0, then
 * h = fma(alpha, sum, beta·h) (h is not read when beta = 0); alpha and beta are rounded to f32. Both
 * backends give the same bits. A running mean over batches, H = 2·XᵀX / (rows seen): beta = seen /
 * (seen + rows), alpha = 2 / (seen + rows) (the reference implementation's add_batch). */
TAO_API tao_status tao_gptq_hessian(tao_ctx* ctx, const void* x, int32_t dtype, int64_t rows, int64_t k, float* h,
                                    double alpha, double beta);

/* The factor of h [k, k] (f32, symmetric, not modified) that the sweep needs:
 *  - dead inputs: a diagonal h_jj = 0 is taken as 1 (tao_gptq_quantize zeroes the weight's column j);
 *  - order: act_order = 1 writes perm int32 [k] = the columns by decreasing h_jj (ties: lower index
 *    first); act_order = 0 writes 0 .. k-1, or nothing when perm is NULL;
 *  - damping: H' = P·H·Pᵀ + percdamp·mean(diag H)·I, percdamp in [0, 1) (the mean summed in f64);
 *  - u [k, k] f32 = the upper-triangular U with H'⁻¹ = Uᵀ·U, zeros below the diagonal (the reference's
 *    cholesky(cholesky_inverse(cholesky(H')), upper=True)). Computed as U = R⁻¹ with H' = R·Rᵀ, R upper
 *    (Cholesky run from the last row up: one factorization and one triangular inverse), in f64 because
 *    U's rounding feeds every later column's correction, then rounded once to f32. CUDA: blocked (64),
 *    the updates as tiled f64 GEMMs, scratch 2·k²·8 bytes from the context's pool; CPU: unblocked, f64,
 *    k²·8 bytes. The two agree to f64 rounding, not bit for bit.
 * info int32 [1] on the context's device gets 0, or 1 + the position in the quantization order of the
 * first pivot that is not positive (H' not positive definite: raise percdamp; u is then undefined).
 * It is written, not read back: the CUDA work is only enqueued. */
TAO_API tao_status tao_gptq_factor(tao_ctx* ctx, const float* h, int64_t k, double percdamp, int32_t act_order,
                                   int32_t* perm, float* u, int32_t* info);

/* Arguments of tao_gptq_quantize (every field 8 bytes). */
typedef struct tao_gptq_args {
  const void* w;          /* [n, k] of w_dtype, not modified */
  int64_t w_dtype;        /* TAO_F32, TAO_F16 or TAO_BF16 */
  const float* h;         /* [k, k]: the Hessian given to tao_gptq_factor (only its diagonal is read) */
  const float* u;         /* [k, k]: tao_gptq_factor's factor */
  const int32_t* perm;    /* [k]: tao_gptq_factor's order, or NULL for 0 .. k-1; needs static_groups */
  int64_t n;
  int64_t k;
  int64_t group_size;     /* divides k */
  int64_t block_size;     /* a multiple of group_size, at most 256 */
  int64_t static_groups;  /* 1: every group's s, z from w before any update; 0: when its first column comes up */
  int64_t bits;           /* 1..8: values 0 .. 2^bits − 1 (4: tinygemm's uint4) */
  uint8_t* q;             /* [n, k] out: values 0 .. 2^bits − 1, natural column order */
  float* scale;           /* [n, k / group_size] out */
  float* zero;            /* [n, k / group_size] out */
} tao_gptq_args;
/* sizeof(tao_gptq_args), for FFI layout checks. */
TAO_API tao_status tao_gptq_args_size(int64_t* out);
/* The GPTQ sweep, row by row independent, all f32: W' = w with dead columns zeroed, columns in perm
 * order. For each block of block_size columns, for each column i of it in order: (non-static groups, at
 * a group's first column: s = bf16(max((mx − mn) / max, 1e-6)), z = bf16(mn + mid·s) over the group's
 * current values); x = W'[r, i]; q = clamp(round_half_up((x − z) / s + mid), 0, max); e = (x − ((q −
 * mid)·s + z)) / U[i, i]; W'[r, j] = fma(−e, U[i, j], W'[r, j]) for the later columns j of the block. After the
 * block, W'[r, j] −= Σ_i e_i·U[i, j] for every later column j (the sum by fused multiply-adds over the
 * block's columns in order, then one subtraction: a GEMM on CUDA). Both backends give the same bits. */
TAO_API tao_status tao_gptq_quantize(tao_ctx* ctx, const tao_gptq_args* args);

/* ---------------------------------------------------------------- uintx (1- to 7-bit weights) */
/* Weight w [n, k] of unsigned `bits`-bit values q (bits 1..7), asymmetric affine per group of `group`
 * (32, 64, 128 or 256; k a multiple of it) along k: scale s and zero point z bf16 [n, k / group], and
 *   TAO_ZERO_POINT_INT:   w = (q − z)·s                  (torchao's uintx; z an integer 0 .. 2^bits − 1)
 *   TAO_ZERO_POINT_FLOAT: w = fma(q − 2^(bits−1), s, z)  (tinygemm's convention, HQQ's output)
 * in f32, one rounding. Packed form: u8 [ceil(n/32)·ceil(k/128)·512·bits], tiles of 32 rows × 128 k (rows
 * and k zero-padded), tile (rb, kt) at byte (rb·ceil(k/128) + kt)·512·bits, row-block major. Tile layout,
 * in 32-bit words: lane l = 4g + t (g, t < 8, 4) owns chunks h < 4 of 32 values each, chunk h holding row
 * 32·rb + g + 8h at k = 128·kt + 16·(i / 2) + 4t + 2·(i % 2) + e for value v = 16e + i (i < 16, e < 2)
 * — the lane's fragments of mma.m16n8k16 with k permuted so that x is read 4 values at a time. Chunk h's
 * word j (j < bits) is the lane's word w = h·bits + j, stored at word (w / 4)·128 + 4l + w % 4 of the tile
 * (lane-interleaved 16-byte units: one coalesced 512-byte load per unit). Within a chunk, value v = 16e + i
 * sits in the 16-bit half e of the words (low half e = 0): with f = floor(16 / bits), values i < f·bits
 * are fields, i = f·a + c at bits c·bits .. c·bits + bits − 1 of half e of word a; the remaining
 * 16 − f·bits values (bits 3, 5, 6, 7) fill the spare bits f·bits .. 15 of the halves, read as one
 * stream (word 0's spare bits first, lowest bit first), value f·bits + j at stream bits j·bits .. +bits − 1,
 * its lowest bit first. Dense: exactly `bits` bits per value of the padded weight. */

/* packed = the uintx packing of q u8 [n, k] (any n, k >= 1; only the low `bits` bits of each value are
 * stored; the padding is zeros). */
TAO_API tao_status tao_uintx_pack(tao_ctx* ctx, const uint8_t* q, int64_t n, int64_t k, int32_t bits, uint8_t* packed);
/* q u8 [n, k] = the values of a packed weight. */
TAO_API tao_status tao_uintx_unpack(tao_ctx* ctx, const uint8_t* packed, int64_t n, int64_t k, int32_t bits, uint8_t* q);
/* out [n, k] (`dtype` TAO_F32, TAO_F16 or TAO_BF16) = w (as above) rounded once to dtype. domain:
 * TAO_ZERO_POINT_INT or TAO_ZERO_POINT_FLOAT. */
TAO_API tao_status tao_dequantize_uintx(tao_ctx* ctx, const uint8_t* packed, const uint16_t* scale, const uint16_t* zero,
                                       int64_t n, int64_t k, int32_t bits, int32_t group, int32_t domain, void* out,
                                       int32_t dtype);
/* y[m, n] = Σ_k x[m, k] · w[n, k] (+ bias[n]), x, bias, y of `dtype` (TAO_F32, TAO_F16, TAO_BF16), products
 * summed in f32, bias added in f32, y rounded once. CPU: w decoded to f32 exactly as tao_dequantize_uintx
 * computes it. CUDA, m <= 8 with 16-bit x (16-byte aligned): a fused kernel that multiplies the exact
 * integer values q on tensor cores (f32 sums per group g, x's dtype for x) and applies the group as
 * s·Σq·x + c·Σx, c = −z·s (INT) or z − 2^(bits−1)·s (FLOAT) — the same weight unrounded, sums in another
 * order; split over k when n alone does not fill the GPU, the splits added in a fixed order (deterministic).
 * Otherwise the weight is dequantized to `dtype` (rounded once) into scratch and multiplied by tao_linear. */
TAO_API tao_status tao_linear_uintx(tao_ctx* ctx, const void* x, const uint8_t* packed, const uint16_t* scale,
                                    const uint16_t* zero, const void* bias, void* y, int32_t dtype, int64_t m, int64_t n,
                                    int64_t k, int32_t bits, int32_t group, int32_t domain);

#ifdef __cplusplus
}
#endif

#endif /* TAO_H */
