// CUDA y = x · Wᵀ (+ bias) for a tensor-core-tiled int4 W (tinygemm's layout), small m (decode).
// Memory-bound at m = 1: the weight is read once, 16 bytes per lane per step, and never
// materialized. Both kernels split k into 1024-wide chunks (grid.y), stage x for the chunk in
// shared memory, and write f32 partials per chunk; a last kernel sums the chunks in a fixed order,
// adds the bias and rounds once.
//  - m <= 2, int4_gemv_fma_kernel: lane t of a warp works on column t/4 of its n-tile; per packed
//    word (8 values of one column, one quantization group) it forms Σ x·q and Σ x and adds
//    s·Σxq + (z − 8s)·Σx, so the dequantization costs nothing per element.
//  - m > 2, int4_gemv_mma_kernel: tensor cores (mma.m16n8k16, 16 rows of x per pass); the packed
//    words are the B fragments as they are. bench/NOTES.md has the measurements behind the split.
#include "../common/backend.h"
#include "../common/convert.h"
#include "launch.cuh"

namespace tao {
namespace cuda {

namespace {

constexpr int kChunkK = 1024;   // k per block
constexpr int kRowStride = kChunkK + 8;  // bf16 per staged x row; +16 B keeps fragment loads conflict-free
constexpr int kWarps = 8;
constexpr int kRows = 16;       // rows of x per pass: the m of one mma.m16n8k16

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

// Nibbles h and h + 4 of a packed word as a bf16 pair (128 + q_k, 128 + q_{k+1}): or-ing a 4-bit
// value into the mantissa of bf16 128.0 (0x4300) is exact. The +128 is taken back through Σx.
__device__ __forceinline__ uint32_t nibble_pair(uint32_t word, int h) {
  return ((word >> (4 * h)) & 0x000F000Fu) | 0x43004300u;
}

// D = A·B + D for one m16n8k16 tile, bf16 inputs, f32 accumulators.
__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Exact float of a 4-bit value: 2^23 + q read as a float, minus 2^23.
__device__ __forceinline__ float nibble(uint32_t word, int s) {
  return __uint_as_float(0x4B000000u | ((word >> (4 * s)) & 0xFu)) - 8388608.0f;
}

template <int M, int T>
__global__ void __launch_bounds__(kWarps * 32) int4_gemv_fma_kernel(Int4LinearCall c, int64_t m0, int64_t rows,
                                                                       float* __restrict__ partial) {
  extern __shared__ float xs[];  // [M][kChunkK] f32
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

// Block (bx, by): 8 warps; warp w computes the 16 × 8 output tile (rows m0.., columns of n-tile
// 8·bx + w) for k-chunk by with tensor cores. The packed words are exactly the B fragments of
// mma.m16n8k16 (tinygemm's layout was made for it): lane t holds column t/4, k = 2(t%4) + {0, 1, 8, 9}
// of two consecutive k-tiles. Per quantization group the raw (q + 128)·x products accumulate in
// f32; at the group's end y += s·Σ(q+128)x + (z − 136s)·Σx, with Σx per row and group from shared
// memory. Lane t ends owning y[rows t/4, t/4 + 8][columns 2(t%4), 2(t%4) + 1].
template <int T>
__global__ void __launch_bounds__(kWarps * 32) int4_gemv_mma_kernel(Int4LinearCall c, int64_t m0, int64_t rows,
                                                                       float* __restrict__ partial) {
  __shared__ uint16_t xs[kRows * kRowStride];
  __shared__ float xsum[kRows][kChunkK / 32];  // Σx over each 32-k word span
  const int64_t k0c = (int64_t)blockIdx.y * kChunkK;
  const int kc = (int)min((int64_t)kChunkK, c.g.k - k0c);
  const uint16_t* x = (const uint16_t*)c.x;
  // Only the real rows are staged: rows beyond `rows` hold stale shared memory, which reaches only
  // the accumulators of those rows (an mma's output row depends on its own input row), never stored.
  for (int r = 0; r < rows; ++r)
    for (int kk = threadIdx.x; kk < kc; kk += blockDim.x) xs[r * kRowStride + kk] = x[(m0 + r) * c.g.k + k0c + kk];
  __syncthreads();
  for (int i = threadIdx.x; i < rows * (kc / 32); i += blockDim.x) {
    const int r = i / (kc / 32), span = i % (kc / 32);
    float sum = 0.0f;
    for (int kk = 0; kk < 32; ++kk) sum += bf16_to_f32(xs[r * kRowStride + span * 32 + kk]);
    xsum[r][span] = sum;
  }
  __syncthreads();

  const int warp = threadIdx.x / 32, t = threadIdx.x % 32, g = t / 4, q4 = t % 4;
  const int64_t nt = (int64_t)blockIdx.x * kWarps + warp;
  if (nt * 8 >= c.g.n) return;
  const int64_t ko_begin = k0c / (16 * T), ko_end = (k0c + kc) / (16 * T);
  using V = typename WordsOf<T>::V;
  const V* words = (const V*)c.packed + (nt * c.g.k_outer) * 32 + t;
  const uint32_t* sz = (const uint32_t*)c.sz;  // (scale, zero) bf16 pairs, [k/group][n]
  const int64_t col = nt * 8 + 2 * q4;
  float acc[4] = {}, grp[4] = {};
  float sx0 = 0.0f, sx1 = 0.0f;  // Σx of the current group for rows g and g + 8
  for (int64_t ko = ko_begin; ko < ko_end; ++ko) {
    const V v = words[ko * 32];
#pragma unroll
    for (int j = 0; j < T / 2; ++j) {
      const int64_t kw = 16 * (ko * T + 2 * j);  // first k of this word's 32 (one group)
      const int kl = (int)(kw - k0c);
      const uint32_t w = word_at<T>(v, j);
#pragma unroll
      for (int tile = 0; tile < 2; ++tile) {  // k-tiles kw and kw + 16: nibbles (0,4),(1,5) / (2,6),(3,7)
        const uint16_t* xa = xs + g * kRowStride + kl + 16 * tile + 2 * q4;
        const uint32_t a[4] = {*(const uint32_t*)xa, *(const uint32_t*)(xa + 8 * kRowStride),
                               *(const uint32_t*)(xa + 8), *(const uint32_t*)(xa + 8 * kRowStride + 8)};
        mma_bf16(grp, a, nibble_pair(w, 2 * tile), nibble_pair(w, 2 * tile + 1));
      }
      sx0 += xsum[g][kl / 32];
      sx1 += xsum[g + 8][kl / 32];
      const bool group_ends = (kw + 32) % c.group == 0 || ko * T + 2 * j + 2 >= ko_end * T;
      if (group_ends) {
        const int64_t gi = kw / c.group;
        const uint32_t p0 = sz[gi * c.g.n + col], p1 = sz[gi * c.g.n + col + 1];
        const float s0 = __uint_as_float(p0 << 16), z0 = __uint_as_float(p0 & 0xFFFF0000u) - 136.0f * s0;
        const float s1 = __uint_as_float(p1 << 16), z1 = __uint_as_float(p1 & 0xFFFF0000u) - 136.0f * s1;
        acc[0] += s0 * grp[0] + z0 * sx0;
        acc[1] += s1 * grp[1] + z1 * sx0;
        acc[2] += s0 * grp[2] + z0 * sx1;
        acc[3] += s1 * grp[3] + z1 * sx1;
        grp[0] = grp[1] = grp[2] = grp[3] = 0.0f;
        sx0 = sx1 = 0.0f;
      }
    }
  }
  const int64_t mn = c.m * c.g.n;
  float* out = partial + (int64_t)blockIdx.y * mn;
  if (g < rows) out[(m0 + g) * c.g.n + col] = acc[0], out[(m0 + g) * c.g.n + col + 1] = acc[1];
  if (g + 8 < rows) out[(m0 + g + 8) * c.g.n + col] = acc[2], out[(m0 + g + 8) * c.g.n + col + 1] = acc[3];
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

template <int T>
void launch_mma(tao_ctx* ctx, const Int4LinearCall& c, int64_t m0, int64_t rows, int chunks, float* partial) {
  const dim3 grid((unsigned)((c.g.n / 8 + kWarps - 1) / kWarps), (unsigned)chunks);
  int4_gemv_mma_kernel<T><<<grid, kWarps * 32, 0, stream_of(ctx)>>>(c, m0, rows, partial);
}

template <int M, int T>
void launch_fma(tao_ctx* ctx, const Int4LinearCall& c, int64_t m0, int64_t rows, int chunks, float* partial) {
  const dim3 grid((unsigned)((c.g.n / 8 + kWarps - 1) / kWarps), (unsigned)chunks);
  int4_gemv_fma_kernel<M, T><<<grid, kWarps * 32, M * kChunkK * sizeof(float), stream_of(ctx)>>>(c, m0, rows, partial);
}

template <int T>
void launch_fma_rows(tao_ctx* ctx, const Int4LinearCall& c, int64_t rows, int chunks, float* partial) {
  if (rows == 1) launch_fma<1, T>(ctx, c, 0, 1, chunks, partial);
  else launch_fma<2, T>(ctx, c, 0, 2, chunks, partial);
}

}  // namespace

tao_status int4_tiled_linear(tao_ctx* ctx, const Int4LinearCall& c) {
  const char* op = "tao_linear_int4_tensor_core_tiled";
  TAO_TRY(use_device(ctx, op));
  const int chunks = (int)((c.g.k + kChunkK - 1) / kChunkK);
  float* partial = nullptr;
  TAO_TRY(alloc(ctx, (uint64_t)chunks * c.m * c.g.n * sizeof(float), (void**)&partial));
  tao_status s = TAO_OK;
  if (c.m <= 2) {  // decode: CUDA-core FMAs, nothing wasted on padding rows
    if (c.g.tiles == 2) launch_fma_rows<2>(ctx, c, c.m, chunks, partial);
    else if (c.g.tiles == 4) launch_fma_rows<4>(ctx, c, c.m, chunks, partial);
    else launch_fma_rows<8>(ctx, c, c.m, chunks, partial);
    s = check_launch(op);
  }
  for (int64_t m0 = 0; c.m > 2 && m0 < c.m && s == TAO_OK; m0 += kRows) {  // tensor cores, 16 rows a pass
    const int64_t rows = c.m - m0 < kRows ? c.m - m0 : kRows;
    if (c.g.tiles == 2) launch_mma<2>(ctx, c, m0, rows, chunks, partial);
    else if (c.g.tiles == 4) launch_mma<4>(ctx, c, m0, rows, chunks, partial);
    else launch_mma<8>(ctx, c, m0, rows, chunks, partial);
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
