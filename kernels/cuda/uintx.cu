// CUDA uintx ops (include/tao.h; the packing is kernels/common/uintx.h). Pack, unpack and dequantize
// are grid-stride loops over chunks (32 values, `bits` words). Linear at m <= 8 with 16-bit x runs
// ux_gemv, a tensor-core kernel reading the packed weight once; otherwise the weight is dequantized
// into scratch and multiplied by cuBLASLt (cuda::linear).
#include <type_traits>

#include "../common/backend.h"
#include "../common/uintx.h"
#include "launch.cuh"
#include "mma.cuh"
#include "split_k.cuh"

namespace tao {
namespace cuda {

namespace {

__global__ void pack_kernel(UxGeometry g, const uint8_t* __restrict__ q, uint32_t* __restrict__ packed, uint64_t chunks) {
  for (uint64_t c = global_thread(); c < chunks; c += grid_threads()) ux_pack_chunk(g, q, c, packed);
}

// Chunk order of the unpack / dequantize threads: a warp takes the 32 lanes of one (tile, h), so its
// word loads fall in the tile's 16-byte units and its stores in 8 rows.
__device__ __forceinline__ uint64_t warp_chunk(uint64_t i) { return (i / 128 * 32 + i % 32) * 4 + i / 32 % 4; }

template <int B, int D>
__global__ void chunks_out_kernel(UintxCall c, uint64_t chunks) {
  for (uint64_t i = global_thread(); i < chunks; i += grid_threads()) ux_chunk_out<B, D>(c, warp_chunk(i));
}

// ---------------------------------------------------------------- the fused kernel (m <= 8)
//
// One warp per 32-row block and k range; a block is kWarps row blocks sharing one k range (split-K).
// Per 128-k tile a lane loads its `bits` 16-byte units (coalesced, read once: L1 not allocated) and
// owns 4 chunks, rows g + 8h of the row block (g = lane / 4, t = lane % 4). Decoding runs in 16-bit
// pairs: a field at mantissa bits p.. of each half, or-ed into the exponent of 2^(M − p) (M the
// mantissa width of x's dtype: 7 for bf16, 10 for f16), reads 2^(M − p) + q exactly; one packed fma
// subtracts 2^(M − p), leaving the exact integer pair (q_i, q_16+i) — two instructions per pair, plus
// one shift per word for fields above the mantissa and a few for the spread values of bits 3, 5, 6, 7.
// The pairs are the A fragments of mma.m16n8k16 (16 rows × 16 k; rows g, g + 8 of each 16-row half)
// and x is the B fragment (column n = x row g, 4 consecutive k per lane: one 8-byte load), so the
// tensor cores form Σ q·x in f32 exactly per product. Each group's sums get its scale and zero point
// in f32: acc += s·Σq·x + c·Σx, c = −z·s (INT) or z − 2^(bits−1)·s (FLOAT), Σx per group and x row
// precomputed in shared memory by the block; the weight is thus multiplied unrounded. At m = 1 the 8
// columns of D hold 8 groups (below), else they hold the x rows and D restarts at every group. Each lane keeps ahead<B>() tiles' loads in flight (2.5-4 KB per
// warp) while it decodes the current one. With split-K each block writes f32 partials and the last
// block of its rows to arrive adds them in split order (deterministic) with the bias.

constexpr int kWarps = 4;  // row blocks (warps) per block
constexpr int kMaxSharedBytes = 48 << 10;

// Tiles loaded ahead of the one being decoded: 2.5 to 4 KB per warp in flight (one tile for 5 bits
// and more, where two would spill registers).
template <int B>
constexpr int ahead() { return B >= 5 ? 1 : B >= 3 ? 2 : 6 / B; }

template <int D>
constexpr int mantissa() { return D == TAO_BF16 ? 7 : 10; }

// The 16-bit pair 2^(M − p), p < M (exponent only): or-ed with a field at mantissa bits p.. it reads
// 2^(M − p) + q.
template <int D>
constexpr uint32_t magic(int p) {
  const uint32_t e = D == TAO_BF16 ? (uint32_t)(134 - p) << 7 : (uint32_t)(25 - p) << 10;
  return e | e << 16;
}

template <int D>
constexpr uint32_t one_pair() { return D == TAO_BF16 ? 0x3F803F80u : 0x3C003C00u; }

// The right shift that brings the field at bit p of a half into the low M bits: fields are taken in
// windows of M bits, each starting at the first field the previous window could not hold.
constexpr int field_shift(int bits, int m, int p) {
  int sh = 0;
  for (int q = 0; q <= p; q += bits)
    if (q + bits > sh + m) sh = q;
  return sh;
}

// Length of the run of bits t.. of spread value i that lie next to each other in one word.
constexpr int piece_length(int bits, int i, int t) {
  int len = 1;
  while (t + len < bits && ux_word_of(bits, i, t + len) == ux_word_of(bits, i, t) &&
         ux_bit_of(bits, i, t + len) == ux_bit_of(bits, i, t) + len)
    ++len;
  return len;
}

// Or-s bits T.. of spread value I of the chunk w into acc at bits T.. of both halves.
template <int B, int I, int T>
__device__ __forceinline__ void gather_bits(const uint32_t (&w)[B], uint32_t& acc) {
  if constexpr (T < B) {
    constexpr int word = ux_word_of(B, I, T), bit = ux_bit_of(B, I, T), len = piece_length(B, I, T);
    static_assert(bit >= T, "spread bits sit above their place in the value");
    constexpr uint32_t mask = (((1u << len) - 1u) << T) * 0x10001u;
    acc |= (w[word] >> (bit - T)) & mask;
    gather_bits<B, I, T + len>(w, acc);
  }
}

// biased − 2^(M − p) per half, exact: the integer pair.
template <int D, int P>
__device__ __forceinline__ uint32_t unbias(uint32_t biased) {
  return Act<D>::fma2(biased, one_pair<D>(), magic<D>(P) | 0x80008000u);
}

// Pair I of chunk w as 16-bit values of dtype D: (q_I, q_16+I), exact.
template <int B, int D, int I>
__device__ __forceinline__ uint32_t decode_pair(const uint32_t (&w)[B]) {
  constexpr int f = 16 / B;
  if constexpr (I < f * B) {
    constexpr int at = (I % f) * B, sh = field_shift(B, mantissa<D>(), at), p = at - sh;
    constexpr uint32_t mask = (((1u << B) - 1u) << p) * 0x10001u;
    return unbias<D, p>(((w[I / f] >> sh) & mask) | magic<D>(p));
  } else {
    uint32_t biased = magic<D>(0);
    gather_bits<B, I, 0>(w, biased);
    return unbias<D, 0>(biased);
  }
}

template <int I, int N, class F>
__device__ __forceinline__ void static_for(F&& f) {
  if constexpr (I < N) {
    f(std::integral_constant<int, I>{});
    static_for<I + 1, N>(f);
  }
}

struct GemvArgs {
  UintxWeight w;
  const uint16_t* x;     // [m, k]
  const uint16_t* bias;  // [n] or NULL
  uint16_t* y;           // [m, n]
  float* partial;        // f32 [splits][m][n] when splits > 1
  uint32_t* counters;
  int64_t k_tiles, row_blocks, split_tiles;
  int m, splits;
};

// Tile kt's units of this lane (base: the lane's first unit of its row block).
template <int B>
__device__ __forceinline__ void load_tile(uint4 (&u)[B], const uint4* base, int64_t kt) {
#pragma unroll
  for (int j = 0; j < B; ++j) {
    const uint4* p = base + (kt * B + j) * 32;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(u[j].x), "=r"(u[j].y), "=r"(u[j].z), "=r"(u[j].w)
                 : "l"(p));
  }
}

// Word H·B + j of the lane's tile words, j < B: chunk H.
template <int B, int H>
__device__ __forceinline__ void chunk_words(const uint4 (&u)[B], uint32_t (&w)[B]) {
#pragma unroll
  for (int j = 0; j < B; ++j) {
    const int x = H * B + j;
    const uint4& v = u[x >> 2];
    w[j] = (x & 3) == 0 ? v.x : (x & 3) == 1 ? v.y : (x & 3) == 2 ? v.z : v.w;
  }
}

// y (or partials) = x · wᵀ for MB >= m x rows (MB 1 or 8): see the comment above.
template <int B, int D, int MB>
__global__ void __launch_bounds__(32 * kWarps, 4) ux_gemv(GemvArgs a) {
  constexpr int kAhead = ahead<B>(), NC = MB == 1 ? 1 : 2;  // NC: x rows (D columns 2t, 2t + 1) a lane keeps
  extern __shared__ float sx[];                              // [MB][groups of the k range]: Σx per group
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, g = lane / 4, t = lane % 4;
  const int64_t n = a.w.n, k = a.w.k, group = a.w.group, rb = (int64_t)blockIdx.x * kWarps + warp;
  const bool active = rb < a.row_blocks;
  const int64_t kt0 = (int64_t)blockIdx.y * a.split_tiles;
  const int64_t kt1 = kt0 + a.split_tiles < a.k_tiles ? kt0 + a.split_tiles : a.k_tiles;
  const int64_t k0 = kt0 * kUxTileK, k1 = kt1 * kUxTileK < k ? kt1 * kUxTileK : k, g0 = k0 / group;
  const int ng = (int)((k1 - k0) / group);

  const uint4* base = (const uint4*)a.w.packed + rb * a.k_tiles * (32 * B) + lane;
  uint4 ahead_tiles[kAhead][B];
#pragma unroll
  for (int u = 0; u < kAhead; ++u)
    if (active && kt0 + u < kt1) load_tile<B>(ahead_tiles[u], base, kt0 + u);

  // Σx per group: a warp sums 256 x values a pass (8 per lane), lanes of one group reduced by shuffles.
  const int64_t segments = (k1 - k0 + 255) / 256;
  const int lanes_per_group = group / 8 < 32 ? (int)(group / 8) : 32;
#pragma unroll 4
  for (int64_t item = warp; item < MB * segments; item += kWarps) {
    const int r = (int)(item / segments);
    const int64_t kk = k0 + item % segments * 256 + 8 * lane;
    float s = 0.0f;
    if (r < a.m && kk < k1) {
      const uint4 v = __ldg((const uint4*)(a.x + r * k + kk));
      const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int j = 0; j < 8; ++j) s += Act<D>::to_f32((uint16_t)(words[j / 2] >> (16 * (j % 2))));
    }
    for (int o = 1; o < lanes_per_group; o *= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane % lanes_per_group == 0 && kk < k1) sx[r * ng + (kk - k0) / group] = s;
  }
  __syncthreads();

  // Runs tile(words, kt) over the k range, each lane's loads kAhead tiles ahead of its decoding.
  auto run_tiles = [&](auto&& tile) {
    for (int64_t kt = kt0; kt < kt1; kt += kAhead) {
#pragma unroll
      for (int u = 0; u < kAhead; ++u) {
        if (kt + u >= kt1) break;
        uint4 cur[B];
#pragma unroll
        for (int j = 0; j < B; ++j) cur[j] = ahead_tiles[u][j];
        if (kt + u + kAhead < kt1) load_tile<B>(ahead_tiles[u], base, kt + u + kAhead);
        tile(cur, kt + u);
      }
    }
  };

  float acc[4][NC] = {};
  float d[2][4] = {};  // D of the two 16-row halves
  const int group_shift = __ffs((int)group / 16) - 1;  // log2 of the mma steps per group
  const float mid = (float)(1 << (B - 1));
  int64_t params[4];  // where the lane's rows' scales and zeros of the k range start
#pragma unroll
  for (int h = 0; h < 4; ++h) params[h] = (rb * kUxTileRows + g + 8 * h) * (k / group) + g0;
  // The bf16 scale and zero point of row h and group gi, as one word (scale in the low half); 0 past n.
  auto load_sz = [&](int h, int gi, bool real) -> uint32_t {
    return real ? (uint32_t)a.w.scale[params[h] + gi] | (uint32_t)a.w.zero[params[h] + gi] << 16 : 0u;
  };
  // acc[h][e] += s·D + c·Σx for row h, D column `col` of the lane, scale and zero in sz (load_sz).
  auto apply = [&](int h, int e, int col, uint32_t sz, float sum_x) {
    const float s = __uint_as_float(sz << 16), z = __uint_as_float(sz & 0xFFFF0000u);
    const float c = a.w.domain == TAO_ZERO_POINT_INT ? mul_rn(-z, s) : fma_f(-mid, s, z);
    acc[h][e] = fma_f(c, sum_x, fma_f(s, d[h / 2][(h % 2) * 2 + col], acc[h][e]));
  };
  // The lane's A fragments of step S for both 16-row halves, multiplied by the B fragment xb.
  auto mma_step = [&](const uint32_t (&w)[4][B], auto step, uint2 xb) {
    constexpr int S = decltype(step)::value;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const uint32_t (&lo)[B] = w[2 * half];
      const uint32_t (&hi)[B] = w[2 * half + 1];
      const uint32_t frag[4] = {decode_pair<B, D, 2 * S>(lo), decode_pair<B, D, 2 * S>(hi), decode_pair<B, D, 2 * S + 1>(lo),
                                decode_pair<B, D, 2 * S + 1>(hi)};
      Act<D>::mma(d[half], frag, xb.x, xb.y);
    }
  };
  auto words_of = [&](const uint4 (&u)[B], uint32_t (&w)[4][B]) {
    chunk_words<B, 0>(u, w[0]);
    chunk_words<B, 1>(u, w[1]);
    chunk_words<B, 2>(u, w[2]);
    chunk_words<B, 3>(u, w[3]);
  };

  if constexpr (MB == 1) {
    // One x row: the 8 columns of D hold 8 consecutive groups (a window) instead of 8 x rows. At step S
    // lane (g, t) gives column g the x values if the step's group is the window's g-th, else 0, so D
    // sums a window's groups apart without a reset and the tile's steps have no branches; at the window's
    // end lane t applies the scales of its columns 2t, 2t + 1 (a quarter of the rows × groups of a
    // per-group epilogue in every lane), and the 4 lanes of a row are added at the very end.
    const int window_tiles = (int)(group / 16);  // 8 groups of group / 16 steps
    uint32_t sz[4][2];
    auto tile = [&](const uint4 (&u)[B], int64_t kt) {
      const int tl = (int)(kt - kt0), gw = tl / window_tiles * 8;  // tile and window's first group in the range
      const bool window_end = (tl + 1) % window_tiles == 0 || kt + 1 == kt1;
      if (window_end) {  // loaded now, used after this tile's steps
#pragma unroll
        for (int h = 0; h < 4; ++h)
#pragma unroll
          for (int e = 0; e < 2; ++e) sz[h][e] = load_sz(h, gw + 2 * t + e, rb * kUxTileRows + g + 8 * h < n && gw + 2 * t + e < ng);
      }
      uint32_t w[4][B];
      words_of(u, w);
      const int valid = k - kt * kUxTileK < kUxTileK ? (int)(k - kt * kUxTileK) : (int)kUxTileK;
      const uint16_t* xp = a.x + kt * kUxTileK + 4 * t;
      static_for<0, 8>([&](auto step) {
        constexpr int S = decltype(step)::value;
        uint2 xb = make_uint2(0, 0);
        if ((((tl * 8 + S) >> group_shift) & 7) == g && 16 * S < valid) xb = __ldg((const uint2*)(xp + 16 * S));
        mma_step(w, step, xb);
      });
      if (window_end) {
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const float sum_x = gw + 2 * t + e < ng ? sx[gw + 2 * t + e] : 0.0f;
#pragma unroll
          for (int h = 0; h < 4; ++h) apply(h, 0, e, sz[h][e], sum_x);
        }
#pragma unroll
        for (int q = 0; q < 4; ++q) d[0][q] = d[1][q] = 0.0f;
      }
    };
    if (active) run_tiles(tile);
#pragma unroll
    for (int h = 0; h < 4; ++h) {  // the row's 4 lanes, added in a fixed order
      acc[h][0] += __shfl_xor_sync(0xffffffffu, acc[h][0], 1);
      acc[h][0] += __shfl_xor_sync(0xffffffffu, acc[h][0], 2);
    }
  } else {
    // Up to 8 x rows in D's columns: each group's steps accumulate in a fresh D, and at the group's end
    // each lane applies its rows' scale and zero (loaded when the group starts, so the loads overlap its
    // decoding).
    uint32_t sz[4];
    auto tile = [&](const uint4 (&u)[B], int64_t kt) {
      uint32_t w[4][B];
      words_of(u, w);
      static_for<0, 8>([&](auto step) {
        constexpr int S = decltype(step)::value;
        const int64_t kk = kt * kUxTileK + 16 * S;
        if (kk >= k) return;  // the zero padding of the last tile (k is a multiple of 32)
        const int sigma = (int)(kt - kt0) * 8 + S;  // mma steps from k0, a group boundary
        const int group_mask = (1 << group_shift) - 1, gi = sigma >> group_shift;
        if ((sigma & group_mask) == 0) {
#pragma unroll
          for (int h = 0; h < 4; ++h) sz[h] = load_sz(h, gi, rb * kUxTileRows + g + 8 * h < n);
        }
        uint2 xb = make_uint2(0, 0);
        if (g < a.m) xb = __ldg((const uint2*)(a.x + g * k + kk + 4 * t));
        mma_step(w, step, xb);
        if (((sigma + 1) & group_mask) == 0) {
#pragma unroll
          for (int e = 0; e < NC; ++e) {
            const float sum_x = sx[(2 * t + e) * ng + gi];
#pragma unroll
            for (int h = 0; h < 4; ++h) apply(h, e, e, sz[h], sum_x);
          }
#pragma unroll
          for (int q = 0; q < 4; ++q) d[0][q] = d[1][q] = 0.0f;
        }
      });
    };
    if (active) run_tiles(tile);
  }

  const int m = a.m;
#pragma unroll
  for (int h = 0; h < 4; ++h) {
    const int64_t row = rb * kUxTileRows + g + 8 * h;
#pragma unroll
    for (int e = 0; e < NC; ++e) {
      const int r = 2 * t + e;
      if (!active || row >= n || r >= m) continue;
      if (a.splits == 1) a.y[r * n + row] = Act<D>::from_f32(a.bias ? add_rn(acc[h][e], Act<D>::to_f32(a.bias[row])) : acc[h][e]);
      else a.partial[((int64_t)blockIdx.y * m + r) * n + row] = acc[h][e];
    }
  }
  if (a.splits == 1) return;
  uint32_t* counter = a.counters + blockIdx.x;
  if (!wo::arrive_last(counter, a.splits)) return;
  for (int64_t i = threadIdx.x; i < (int64_t)kWarps * kUxTileRows * m; i += blockDim.x) {
    const int64_t row = (int64_t)blockIdx.x * kWarps * kUxTileRows + i % (kWarps * kUxTileRows);
    const int r = (int)(i / (kWarps * kUxTileRows));
    if (row >= n) continue;
    float v = 0.0f;
    for (int s0 = 0; s0 < a.splits; s0 += 8) {  // 8 loads in flight, added in split order
      float p[8];
#pragma unroll
      for (int j = 0; j < 8; ++j) p[j] = s0 + j < a.splits ? __ldcg(a.partial + ((int64_t)(s0 + j) * m + r) * n + row) : 0.0f;
#pragma unroll
      for (int j = 0; j < 8; ++j)
        if (s0 + j < a.splits) v += p[j];
    }
    a.y[r * n + row] = Act<D>::from_f32(a.bias ? add_rn(v, Act<D>::to_f32(a.bias[row])) : v);
  }
  if (threadIdx.x == 0) *counter = 0;
}

// Launches ux_gemv: k split (in whole groups and tiles) into as many parts as keep the grid within one
// wave of resident blocks, Σx of a part fitting in shared memory.
template <int B, int D, int MB>
tao_status gemv(tao_ctx* ctx, const UintxLinearCall& c, const char* op) {
  static const int resident = [] {
    int b = 0;
    return cudaOccupancyMaxActiveBlocksPerMultiprocessor(&b, ux_gemv<B, D, MB>, 32 * kWarps, 0) == cudaSuccess && b > 0 ? b : 1;
  }();
  const UxGeometry geo = ux_geometry(c.w.n, c.w.k, B);
  const unsigned blocks = (unsigned)((geo.row_blocks + kWarps - 1) / kWarps);
  const int64_t unit = c.w.group > kUxTileK ? c.w.group / kUxTileK : 1;  // tiles per split unit
  const int64_t units = (geo.k_tiles + unit - 1) / unit;
  const int64_t max_units = kMaxSharedBytes / (4 * MB) / (unit * kUxTileK / c.w.group);  // Σx of a part fits
  const int64_t slots = (int64_t)sm_count(ctx->device) * resident;
  int64_t splits = std::min(units, std::max<int64_t>(1, slots / blocks));
  const int64_t per = std::min((units + splits - 1) / splits, max_units);
  splits = (units + per - 1) / per;
  if (splits > 1 && blocks > kSplitCounters) return fail(TAO_ERR_INVALID_ARGUMENT, op, "n=%lld too large for split-K", (long long)c.w.n);
  GemvArgs a{c.w, (const uint16_t*)c.x, (const uint16_t*)c.bias, (uint16_t*)c.y, nullptr, (uint32_t*)ctx->counters,
             geo.k_tiles, geo.row_blocks, per * unit, (int)c.m, (int)splits};
  if (splits > 1) TAO_TRY(alloc(ctx, (uint64_t)splits * c.m * c.w.n * sizeof(float), (void**)&a.partial));
  const size_t smem = (size_t)MB * (per * unit * kUxTileK / c.w.group) * sizeof(float);
  ux_gemv<B, D, MB><<<dim3(blocks, (unsigned)splits), 32 * kWarps, smem, stream_of(ctx)>>>(a);
  tao_status s = check_launch(op);
  if (a.partial) {
    const tao_status fs = release(ctx, a.partial);
    if (s == TAO_OK) s = fs;
  }
  return s;
}

template <int D>
tao_status gemv_as(tao_ctx* ctx, const UintxLinearCall& c, const char* op) {
  TAO_SWITCH_UX_BITS(c.w.bits, B, return c.m == 1 ? gemv<B, D, 1>(ctx, c, op) : gemv<B, D, 8>(ctx, c, op));
  return fail(TAO_ERR_INTERNAL, op, "bits=%d", c.w.bits);
}

// Launches the unpack (D = TAO_U8) or dequantization of c.
tao_status chunks_out(tao_ctx* ctx, const UintxCall& c, int dtype, const char* op) {
  const uint64_t chunks = ux_chunks(ux_geometry(c.w.n, c.w.k, c.w.bits));
  const unsigned grid = grid_for(ctx, chunks, 256);
  cudaStream_t st = stream_of(ctx);
  TAO_SWITCH_UX_BITS(c.w.bits, B, switch (dtype) {
    case TAO_U8: chunks_out_kernel<B, TAO_U8><<<grid, 256, 0, st>>>(c, chunks); break;
    case TAO_F32: chunks_out_kernel<B, TAO_F32><<<grid, 256, 0, st>>>(c, chunks); break;
    case TAO_F16: chunks_out_kernel<B, TAO_F16><<<grid, 256, 0, st>>>(c, chunks); break;
    default: chunks_out_kernel<B, TAO_BF16><<<grid, 256, 0, st>>>(c, chunks); break;
  });
  return check_launch(op);
}

}  // namespace

tao_status uintx(tao_ctx* ctx, UintxOp op, const UintxCall& c) {
  const char* names[] = {"tao_uintx_pack", "tao_uintx_unpack", "tao_dequantize_uintx"};
  const char* name = names[(int)op];
  TAO_TRY(use_device(ctx, name));
  if (!aligned_to(c.w.packed, 16)) return fail(TAO_ERR_INVALID_ARGUMENT, name, "packed must be 16-byte aligned on CUDA");
  if (op == UintxOp::Pack) {
    const UxGeometry g = ux_geometry(c.w.n, c.w.k, c.w.bits);
    const uint64_t chunks = ux_chunks(g);
    pack_kernel<<<grid_for(ctx, chunks, 256), 256, 0, stream_of(ctx)>>>(g, c.q, (uint32_t*)c.w.packed, chunks);
    return check_launch(name);
  }
  return chunks_out(ctx, c, op == UintxOp::Unpack ? TAO_U8 : c.dtype, name);
}

tao_status uintx_linear(tao_ctx* ctx, const UintxLinearCall& c) {
  const char* op = "tao_linear_uintx";
  TAO_TRY(use_device(ctx, op));
  if (!aligned_to(c.w.packed, 16)) return fail(TAO_ERR_INVALID_ARGUMENT, op, "packed must be 16-byte aligned on CUDA");
  if (c.m <= 8 && c.dtype != TAO_F32 && aligned_to(c.x, 16))
    return c.dtype == TAO_F16 ? gemv_as<TAO_F16>(ctx, c, op) : gemv_as<TAO_BF16>(ctx, c, op);
  void* w = nullptr;
  const uint64_t elem = c.dtype == TAO_F32 ? 4 : 2;
  TAO_TRY(alloc(ctx, (uint64_t)(c.w.n * c.w.k) * elem, &w));
  const UintxCall d{c.w, nullptr, w, c.dtype};
  tao_status s = chunks_out(ctx, d, c.dtype, op);
  if (s == TAO_OK) s = linear(ctx, LinearCall{c.x, w, c.bias, c.y, c.dtype, c.m, c.w.n, c.w.k});
  const tao_status fs = release(ctx, w);
  return s != TAO_OK ? s : fs;
}

}  // namespace cuda
}  // namespace tao
