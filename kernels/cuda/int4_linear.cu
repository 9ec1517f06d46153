// CUDA y = x · Wᵀ (+ bias) for a tensor-core-tiled int4 W (tinygemm's layout), small m (decode).
// Memory-bound: the weight is read once, 16 bytes per lane per step, and never materialized.
//  - Block (bx, by): 8 warps, warp w owns n-tile 8·bx + w (8 output columns; lane t works on
//    column t/4, the 4 lanes of a column split each packed word's k range), for the k-chunk by
//    (1024 k). The chunk of x (M rows, f32) is staged in shared memory once per block.
//  - Per packed word (8 values of one column, all in one quantization group), a lane forms
//    Σ x·q and Σ x, and adds s·Σxq + (z − 8s)·Σx: the dequantization costs nothing per element.
//  - Column partials are reduced over the 4 lanes by shuffles and written per k-chunk to an f32
//    scratch; a second kernel sums the chunks in a fixed order, adds the bias and rounds once.
#include "../common/backend.h"
#include "../common/convert.h"
#include "launch.cuh"

namespace tao {
namespace cuda {

namespace {

constexpr int kChunkK = 1024;  // k per block (x chunk in shared memory: M × 1024 f32)
constexpr int kWarps = 8;

template <int T>
struct WordsOf;  // T/2 packed words per lane per k-outer step, loaded as one vector
template <> struct WordsOf<2> { using V = uint32_t; };
template <> struct WordsOf<4> { using V = uint2; };
template <> struct WordsOf<8> { using V = uint4; };

template <int T>
__device__ __forceinline__ uint32_t word_at(const typename WordsOf<T>::V& v, int j) {
  if constexpr (T == 2) return v;
  else if constexpr (T == 4) return j == 0 ? v.x : v.y;
  else return j == 0 ? v.x : j == 1 ? v.y : j == 2 ? v.z : v.w;
}

// Exact float of a 4-bit value: 2^23 + q read as a float, minus 2^23.
__device__ __forceinline__ float nibble(uint32_t word, int s) {
  return __uint_as_float(0x4B000000u | ((word >> (4 * s)) & 0xFu)) - 8388608.0f;
}

template <int M, int T>
__global__ void __launch_bounds__(kWarps * 32) int4_linear_partial_kernel(Int4LinearCall c, int64_t m0, int64_t rows,
                                                                       float* __restrict__ partial) {
  extern __shared__ float xs[];  // [M][kChunkK]
  const int64_t k0c = (int64_t)blockIdx.y * kChunkK;
  const int kc = (int)min((int64_t)kChunkK, c.g.k - k0c);
  const uint16_t* x = (const uint16_t*)c.x;
  for (int i = threadIdx.x; i < M * kc; i += blockDim.x) {
    const int r = i / kc, kk = i % kc;
    xs[r * kChunkK + kk] = r < rows ? bf16_to_f32(x[(m0 + r) * c.g.k + k0c + kk]) : 0.0f;
  }
  __syncthreads();

  const int warp = threadIdx.x / 32, t = threadIdx.x % 32;
  const int64_t nt = (int64_t)blockIdx.x * kWarps + warp;
  if (nt * 8 >= c.g.n) return;
  const int64_t n0 = nt * 8 + t / 4;
  const int64_t ko_begin = k0c / (16 * T), ko_end = (k0c + kc) / (16 * T);
  using V = typename WordsOf<T>::V;
  const V* words = (const V*)c.packed + (nt * c.g.k_outer) * 32 + t;
  const uint32_t* sz = (const uint32_t*)c.sz;  // (scale, zero) bf16 pairs, [k/group][n]
  float acc[M] = {};
  for (int64_t ko = ko_begin; ko < ko_end; ++ko) {
    const V v = words[ko * 32];
#pragma unroll
    for (int j = 0; j < T / 2; ++j) {
      const int64_t kw = 16 * (ko * T + 2 * j);  // first k of this word's 32
      const uint32_t p = sz[(kw / c.group) * c.g.n + n0];
      const float s = __uint_as_float(p << 16), z = __uint_as_float(p & 0xFFFF0000u);
      const float zc = z - 8.0f * s;
      const uint32_t w = word_at<T>(v, j);
      const int kl = (int)(kw - k0c) + 2 * (t % 4);
#pragma unroll
      for (int r = 0; r < M; ++r) {
        const float* xr = xs + r * kChunkK + kl;
        float dq = 0.0f, dx = 0.0f;
#pragma unroll
        for (int h = 0; h < 4; ++h) {  // nibbles h and h + 4: k = kl + 8h and kl + 8h + 1
          const float2 xv = *(const float2*)(xr + 8 * h);
          dq = fmaf(xv.x, nibble(w, h), dq);
          dq = fmaf(xv.y, nibble(w, h + 4), dq);
          dx += xv.x + xv.y;
        }
        acc[r] = fmaf(s, dq, fmaf(zc, dx, acc[r]));
      }
    }
  }
#pragma unroll
  for (int r = 0; r < M; ++r) {
    acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], 1);
    acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], 2);
    if (t % 4 == 0 && r < rows) partial[((int64_t)blockIdx.y * c.m + m0 + r) * c.g.n + n0] = acc[r];
  }
}

// y[m][n] = bf16(Σ_chunks partial + bias), chunks summed in order.
__global__ void int4_linear_finish_kernel(Int4LinearCall c, int chunks, const float* __restrict__ partial) {
  const uint64_t mn = (uint64_t)(c.m * c.g.n);
  for (uint64_t i = global_thread(); i < mn; i += grid_threads()) {
    float v = 0.0f;
    for (int s = 0; s < chunks; ++s) v += partial[(uint64_t)s * mn + i];
    if (c.bias) v += bf16_to_f32(((const uint16_t*)c.bias)[i % c.g.n]);
    ((uint16_t*)c.y)[i] = f32_to_bf16(v);
  }
}

template <int M, int T>
void launch_partial(tao_ctx* ctx, const Int4LinearCall& c, int64_t m0, int64_t rows, int chunks, float* partial) {
  const dim3 grid((unsigned)((c.g.n / 8 + kWarps - 1) / kWarps), (unsigned)chunks);
  int4_linear_partial_kernel<M, T><<<grid, kWarps * 32, M * kChunkK * sizeof(float), stream_of(ctx)>>>(c, m0, rows, partial);
}

template <int T>
void launch_rows(tao_ctx* ctx, const Int4LinearCall& c, int64_t m0, int64_t rows, int chunks, float* partial) {
  if (rows == 1) launch_partial<1, T>(ctx, c, m0, rows, chunks, partial);
  else if (rows == 2) launch_partial<2, T>(ctx, c, m0, rows, chunks, partial);
  else if (rows <= 4) launch_partial<4, T>(ctx, c, m0, rows, chunks, partial);
  else launch_partial<8, T>(ctx, c, m0, rows, chunks, partial);
}

}  // namespace

tao_status int4_tiled_linear(tao_ctx* ctx, const Int4LinearCall& c) {
  const char* op = "tao_linear_int4_tensor_core_tiled";
  TAO_TRY(use_device(ctx, op));
  const int chunks = (int)((c.g.k + kChunkK - 1) / kChunkK);
  float* partial = nullptr;
  TAO_TRY(alloc(ctx, (uint64_t)chunks * c.m * c.g.n * sizeof(float), (void**)&partial));
  tao_status s = TAO_OK;
  for (int64_t m0 = 0; m0 < c.m && s == TAO_OK; m0 += 8) {
    const int64_t rows = c.m - m0 < 8 ? c.m - m0 : 8;
    if (c.g.tiles == 2) launch_rows<2>(ctx, c, m0, rows, chunks, partial);
    else if (c.g.tiles == 4) launch_rows<4>(ctx, c, m0, rows, chunks, partial);
    else launch_rows<8>(ctx, c, m0, rows, chunks, partial);
    s = check_launch(op);
  }
  if (s == TAO_OK) {
    int4_linear_finish_kernel<<<grid_for(ctx, (uint64_t)(c.m * c.g.n), 256), 256, 0, stream_of(ctx)>>>(c, chunks, partial);
    s = check_launch(op);
  }
  const tao_status fs = release(ctx, partial);
  return s != TAO_OK ? s : fs;
}

}  // namespace cuda
}  // namespace tao
