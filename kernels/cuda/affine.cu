// CUDA affine quantization primitives. Formulas: kernels/common/affine.h (shared with the CPU, so
// results are bit-identical). Memory-bound, so the kernels are shaped for bandwidth:
//  - quantize / dequantize / fake: a thread handles 16-byte vectors of input (8 bf16, 16 int8)
//    with vector stores; when the geometry is 1-D and the block size is a multiple of the vector
//    the vector shares one (scale, zero point), loaded once. Otherwise one element per thread.
//  - choose_qparams: blocks of up to kWarpGroupMax elements get a segment of 4 to 32 lanes each
//    (one 16-byte load per lane per pass, shuffle-reduce, the first lane writes scale and zero
//    point). Larger blocks
//    are split over CTAs that reduce in shared memory and merge with one atomicMax pair per CTA
//    into an order-preserving integer encoding of (max, -min); a second kernel turns those into
//    qparams. Non-1-D geometries use per-element atomics (correct, not fast; rare).
#include "../common/affine.h"
#include "../common/backend.h"
#include "../common/convert.h"
#include "../common/dtype_switch.h"
#include "launch.cuh"

namespace tao {
namespace cuda {

namespace {

constexpr int V = 8;                     // elements per lane-vector in choose_qparams
constexpr uint64_t kWarpGroupMax = 8192; // largest block reduced by a single warp
constexpr uint64_t kChunk = 256 * V * 8; // elements per CTA in the split reduction

__device__ __forceinline__ AffineBlock load_qp(const AffineCall& c, uint64_t q) {
  return affine_block(load_as_f32(c.scale, c.scale_dtype, q),
                      c.zero_point ? load_as_f32(c.zero_point, c.zero_point_dtype, q) : 0.0f, c.scheme);
}

// One element of each elementwise op. DOM is the zero-point domain for quantize (the kernels are
// specialized on it: no per-element domain branches, less code, fewer registers); -1 elsewhere.
template <AffineOp OP, int IN, int OUT, int DOM>
__device__ __forceinline__ typename Dt<OUT>::T apply(typename Dt<IN>::T x, const AffineBlock& p, const AffineScheme& sc) {
  const float v = Dt<IN>::to_f32(x);
  if constexpr (OP == AffineOp::Quantize && !Dt<OUT>::is_float) {
    // The value is an integer inside [qmin, qmax], inside OUT's range: convert directly instead of
    // through the saturating NaN-checking from_f32.
    return (typename Dt<OUT>::T)__float2int_rz(affine_quantize_as<DOM, false>(v, p, sc));
  } else if constexpr (OP == AffineOp::Quantize) {
    return Dt<OUT>::from_f32(affine_quantize_as<TAO_ZERO_POINT_NONE, true>(v, p, sc));
  } else if constexpr (OP == AffineOp::Dequantize) {
    return Dt<OUT>::from_f32(affine_dequantize_value(v, p, sc));
  } else {
    const float q = affine_target_round(affine_quantize_value(v, p, sc), sc.target);
    return Dt<OUT>::from_f32(affine_dequantize_value(q, p, sc));
  }
}

constexpr int U = 2;  // vectors per thread per round in the elementwise kernels

// Elements per thread-vector of the elementwise kernels: one 16-byte load of the input, two for
// quantize (its per-vector work — block index, parameters, 1/s — is then spread over 16 bf16).
template <AffineOp OP, int IN>
constexpr int elem_vec() {
  return (int)((OP == AffineOp::Quantize ? 32 : 16) / sizeof(typename Dt<IN>::T));
}

// Vectors per thread per round (loads in flight): U, or 1 for quantize's double-width vectors.
template <AffineOp OP>
constexpr int vec_slots() {
  return OP == AffineOp::Quantize ? 1 : U;
}

// Vector path: requires nd == 1, group % elem_vec<OP, IN>() == 0 and aligned buffers. Each thread
// handles vec_slots vectors per round and issues all their loads, data and block parameters, before any
// math, so a round costs one memory latency, not one for the data plus one for the parameters.
// Index is uint32_t whenever the vector count fits, because the per-vector block index is a
// division and 64-bit division is a long software sequence on the GPU.
template <AffineOp OP, int IN, int OUT, int DOM, class Index>
__global__ void __launch_bounds__(256) elementwise_vec_kernel(AffineCall c) {
  using TI = typename Dt<IN>::T;
  using TO = typename Dt<OUT>::T;
  constexpr int W = elem_vec<OP, IN>(), S = vec_slots<OP>();
  const Vec<TI, W>* __restrict__ in = (const Vec<TI, W>*)c.input;
  Vec<TO, W>* __restrict__ out = (Vec<TO, W>*)c.output;
  const Index nvec = (Index)(c.geo.numel / W), vec_per_group = (Index)(c.geo.group / W);
  const Index stride = (Index)grid_threads();
  for (Index base = (Index)global_thread(); base < nvec; base += S * stride) {
    Vec<TI, W> a[S];
    float s[S], zp[S];
#pragma unroll
    for (int u = 0; u < S; ++u) {
      const Index v = base + u * stride;
      if (v < nvec) {
        a[u] = in[v];
        const Index q = v / vec_per_group;
        s[u] = load_as_f32(c.scale, c.scale_dtype, q);
        zp[u] = c.zero_point ? load_as_f32(c.zero_point, c.zero_point_dtype, q) : 0.0f;
      }
    }
#pragma unroll
    for (int u = 0; u < S; ++u) {
      const Index v = base + u * stride;
      if (v >= nvec) break;
      const AffineBlock p = affine_block(s[u], zp[u], c.scheme);
      Vec<TO, W> b;
#pragma unroll
      for (int k = 0; k < W; ++k) b.v[k] = apply<OP, IN, OUT, DOM>(a[u].v[k], p, c.scheme);
      out[v] = b;
    }
  }
}

template <AffineOp OP, int IN, int OUT, int DOM>
__global__ void __launch_bounds__(256) elementwise_scalar_kernel(AffineCall c) {
  using TI = typename Dt<IN>::T;
  using TO = typename Dt<OUT>::T;
  const TI* __restrict__ in = (const TI*)c.input;
  TO* __restrict__ out = (TO*)c.output;
  for (uint64_t i = global_thread(); i < c.geo.numel; i += grid_threads())
    out[i] = apply<OP, IN, OUT, DOM>(in[i], load_qp(c, affine_qindex(c.geo, i)), c.scheme);
}

template <AffineOp OP, int IN, int OUT, int DOM>
void launch_elementwise(tao_ctx* ctx, const AffineCall& c) {
  using TI = typename Dt<IN>::T;
  using TO = typename Dt<OUT>::T;
  constexpr int W = elem_vec<OP, IN>();
  const bool vec = c.geo.nd == 1 && c.geo.group % W == 0 && aligned_to(c.input, alignof(Vec<TI, W>)) &&
                   aligned_to(c.output, alignof(Vec<TO, W>));
  if (vec) {
    const uint64_t nvec = c.geo.numel / W;
    constexpr int S = vec_slots<OP>();
    const unsigned grid = grid_for(ctx, (nvec + S - 1) / S, 256);
    if (nvec + (uint64_t)S * grid * 256 < (1ull << 32)) {
      elementwise_vec_kernel<OP, IN, OUT, DOM, uint32_t><<<grid, 256, 0, stream_of(ctx)>>>(c);
    } else {
      elementwise_vec_kernel<OP, IN, OUT, DOM, uint64_t><<<grid, 256, 0, stream_of(ctx)>>>(c);
    }
  } else {
    elementwise_scalar_kernel<OP, IN, OUT, DOM><<<grid_for(ctx, c.geo.numel, 256), 256, 0, stream_of(ctx)>>>(c);
  }
}

// Quantize, specialized on the zero-point domain (float8 targets have none).
template <int IN, int OUT>
void launch_quantize(tao_ctx* ctx, const AffineCall& c) {
  if constexpr (Dt<OUT>::is_float) {
    launch_elementwise<AffineOp::Quantize, IN, OUT, TAO_ZERO_POINT_NONE>(ctx, c);
  } else if (c.scheme.domain == TAO_ZERO_POINT_INT) {
    launch_elementwise<AffineOp::Quantize, IN, OUT, TAO_ZERO_POINT_INT>(ctx, c);
  } else if (c.scheme.domain == TAO_ZERO_POINT_FLOAT) {
    launch_elementwise<AffineOp::Quantize, IN, OUT, TAO_ZERO_POINT_FLOAT>(ctx, c);
  } else {
    launch_elementwise<AffineOp::Quantize, IN, OUT, TAO_ZERO_POINT_NONE>(ctx, c);
  }
}

// ---------------------------------------------------------------- choose_qparams

__device__ __forceinline__ void minmax_step(float v, float& mn, float& mx) {
  mn = nan_min(mn, v);
  mx = nan_max(mx, v);
}

__device__ __forceinline__ void warp_minmax(float& mn, float& mx) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    mn = nan_min(mn, __shfl_xor_sync(0xffffffffu, mn, o));
    mx = nan_max(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  }
}

// min/max of in[b, e), by this thread, striding by `stride` threads (VEC: 8-element vectors).
template <int IN, bool VEC>
__device__ __forceinline__ void thread_minmax(const typename Dt<IN>::T* __restrict__ in, uint64_t b, uint64_t e,
                                              uint64_t first, uint64_t stride, float& mn, float& mx) {
  using TI = typename Dt<IN>::T;
  if (VEC) {
    for (uint64_t j = b + first * V; j < e; j += stride * V) {
      const Vec<TI, V> a = *(const Vec<TI, V>*)(in + j);
#pragma unroll
      for (int k = 0; k < V; ++k) minmax_step(Dt<IN>::to_f32(a.v[k]), mn, mx);
    }
  } else {
    for (uint64_t j = b + first; j < e; j += stride) minmax_step(Dt<IN>::to_f32(in[j]), mn, mx);
  }
}

__device__ __forceinline__ void store_qparams(const AffineCall& c, uint64_t q, float mn, float mx) {
  float s, zp;
  affine_qparams(mn, mx, c.scheme, &s, &zp);
  store_from_f32(c.scale, c.scale_dtype, q, s);
  if (c.zero_point) store_from_f32(c.zero_point, c.zero_point_dtype, q, zp);
}

// Blocks of a 1-D geometry, T lanes per block (T = 4, 8, 16 or 32, a power of two dividing the
// warp): lanes read consecutive 16-byte vectors (VEC) or elements, reduce with shuffles inside their
// T-lane segment, and the segment's first lane writes the block's scale and zero point. Small
// groups (g32 -> 4 lanes) keep every lane busy and every load fully coalesced.
template <int IN, bool VEC, int T>
__global__ void __launch_bounds__(256) choose_group_kernel(AffineCall c) {
  const auto* in = (const typename Dt<IN>::T*)c.input;
  const uint64_t segments = grid_threads() / T;
  const int lane = threadIdx.x % T;
  // Every lane runs the same number of iterations, so the shuffles below see full warps.
  const uint64_t rounds = (c.geo.nqp + segments - 1) / segments;
  uint64_t q = global_thread() / T;
  for (uint64_t r = 0; r < rounds; ++r, q += segments) {
    float mn = __int_as_float(0x7f800000), mx = -mn;
    if (q < c.geo.nqp) thread_minmax<IN, VEC>(in, q * c.geo.group, (q + 1) * c.geo.group, lane, T, mn, mx);
#pragma unroll
    for (int o = T / 2; o > 0; o >>= 1) {
      mn = nan_min(mn, __shfl_xor_sync(0xffffffffu, mn, o));
      mx = nan_max(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    }
    if (lane == 0 && q < c.geo.nqp) store_qparams(c, q, mn, mx);
  }
}

// Order-preserving map of floats to unsigned ints (NaN, made canonical, maps above +inf), so
// atomicMax over encodings is a NaN-propagating max.
__device__ __forceinline__ unsigned enc_ordered(float f) {
  unsigned u = f != f ? 0x7fc00000u : __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
__device__ __forceinline__ float dec_ordered(unsigned e) {
  return __uint_as_float((e & 0x80000000u) ? (e & 0x7fffffffu) : ~e);
}

// CTA (q, k) reduces chunk k of block q and merges into acc[2q] (max) and acc[2q+1] (-min).
template <int IN, bool VEC>
__global__ void __launch_bounds__(256) choose_split_kernel(AffineCall c, uint64_t chunks_per_block, unsigned* acc) {
  const auto* in = (const typename Dt<IN>::T*)c.input;
  const uint64_t q = blockIdx.x / chunks_per_block, k = blockIdx.x % chunks_per_block;
  const uint64_t base = q * c.geo.group;
  const uint64_t b = base + k * kChunk, e = min(base + c.geo.group, b + kChunk);
  float mn = __int_as_float(0x7f800000), mx = -mn;
  thread_minmax<IN, VEC>(in, b, e, threadIdx.x, blockDim.x, mn, mx);
  warp_minmax(mn, mx);
  __shared__ float smn[8], smx[8];
  const int w = threadIdx.x / 32;
  if ((threadIdx.x & 31) == 0) {
    smn[w] = mn;
    smx[w] = mx;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int i = 1; i < (int)(blockDim.x / 32); ++i) {
      mn = nan_min(mn, smn[i]);
      mx = nan_max(mx, smx[i]);
    }
    atomicMax(&acc[2 * q], enc_ordered(mx));
    atomicMax(&acc[2 * q + 1], enc_ordered(-mn));
  }
}

// Any geometry: every element merges into its block's accumulator.
template <int IN>
__global__ void __launch_bounds__(256) choose_atomic_kernel(AffineCall c, unsigned* acc) {
  const auto* in = (const typename Dt<IN>::T*)c.input;
  for (uint64_t i = global_thread(); i < c.geo.numel; i += grid_threads()) {
    const float v = Dt<IN>::to_f32(in[i]);
    const uint64_t q = affine_qindex(c.geo, i);
    atomicMax(&acc[2 * q], enc_ordered(v));
    atomicMax(&acc[2 * q + 1], enc_ordered(-v));
  }
}

__global__ void choose_finalize_kernel(AffineCall c, const unsigned* acc) {
  for (uint64_t q = global_thread(); q < c.geo.nqp; q += grid_threads())
    store_qparams(c, q, -dec_ordered(acc[2 * q + 1]), dec_ordered(acc[2 * q]));
}

template <int IN>
tao_status launch_choose(tao_ctx* ctx, const AffineCall& c) {
  const char* op = "tao_choose_qparams_affine";
  using TI = typename Dt<IN>::T;
  cudaStream_t st = stream_of(ctx);
  const bool vec = c.geo.nd == 1 && c.geo.group % V == 0 && aligned_to(c.input, alignof(Vec<TI, V>));
  if (c.geo.nd == 1 && c.geo.group <= kWarpGroupMax) {
    // Lanes per block: one 8-element vector per lane per pass, at least 4 and at most 32 lanes.
    const uint64_t lanes = vec ? c.geo.group / V : 32;
    auto launch = [&](auto kernel, int t) {
      kernel<<<grid_for(ctx, c.geo.nqp * t, 256), 256, 0, st>>>(c);
    };
    if (!vec) launch(choose_group_kernel<IN, false, 32>, 32);
    else if (lanes <= 4) launch(choose_group_kernel<IN, true, 4>, 4);
    else if (lanes <= 8) launch(choose_group_kernel<IN, true, 8>, 8);
    else if (lanes <= 16) launch(choose_group_kernel<IN, true, 16>, 16);
    else launch(choose_group_kernel<IN, true, 32>, 32);
    return check_launch(op);
  }
  unsigned* acc = nullptr;
  const uint64_t bytes = c.geo.nqp * 2 * sizeof(unsigned);
  TAO_TRY(alloc(ctx, bytes, (void**)&acc));
  tao_status s = memset(ctx, acc, 0, bytes);
  if (s == TAO_OK) {
    if (c.geo.nd == 1) {
      const uint64_t cpb = (c.geo.group + kChunk - 1) / kChunk;
      if (vec) choose_split_kernel<IN, true><<<(unsigned)(cpb * c.geo.nqp), 256, 0, st>>>(c, cpb, acc);
      else choose_split_kernel<IN, false><<<(unsigned)(cpb * c.geo.nqp), 256, 0, st>>>(c, cpb, acc);
    } else {
      choose_atomic_kernel<IN><<<grid_for(ctx, c.geo.numel, 256), 256, 0, st>>>(c, acc);
    }
    s = check_launch(op);
  }
  if (s == TAO_OK) {
    choose_finalize_kernel<<<grid_for(ctx, c.geo.nqp, 256), 256, 0, st>>>(c, acc);
    s = check_launch(op);
  }
  tao_status fs = release(ctx, acc);
  return s != TAO_OK ? s : fs;
}

}  // namespace

tao_status affine(tao_ctx* ctx, AffineOp op, const AffineCall& c) {
  const char* name = op == AffineOp::Choose ? "tao_choose_qparams_affine"
                     : op == AffineOp::Quantize ? "tao_quantize_affine"
                     : op == AffineOp::Dequantize ? "tao_dequantize_affine"
                                                  : "tao_fake_quantize_affine";
  TAO_TRY(use_device(ctx, name));
  tao_status s = TAO_OK;
  if (op == AffineOp::Choose) {
    TAO_SWITCH_WIDE_FLOAT(c.input_dtype, I, s = launch_choose<I>(ctx, c));
    return s;
  }
  if (op == AffineOp::Quantize) {
    TAO_SWITCH_WIDE_FLOAT(c.input_dtype, I, TAO_SWITCH_QUANTIZED(c.output_dtype, O, launch_quantize<I, O>(ctx, c)));
  } else if (op == AffineOp::Dequantize) {
    TAO_SWITCH_QUANTIZED(c.input_dtype, I, TAO_SWITCH_WIDE_FLOAT(c.output_dtype, O, launch_elementwise<AffineOp::Dequantize, I, O, -1>(ctx, c)));
  } else {
    TAO_SWITCH_WIDE_FLOAT(c.input_dtype, I, TAO_SWITCH_WIDE_FLOAT(c.output_dtype, O, launch_elementwise<AffineOp::Fake, I, O, -1>(ctx, c)));
  }
  return check_launch(name);
}

}  // namespace cuda
}  // namespace tao
