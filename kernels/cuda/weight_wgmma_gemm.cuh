// The weight-only quantized linear for larger m on Hopper (sm_90a): y[m, n] = x[m, k] · Wᵀ with W
// dequantized in registers into wgmma's A operand, never in memory.
//
// Roles as in weight_only_gemm.cuh: the weight is A (64 output columns per warpgroup, each warp's 16
// columns in mma.m16n8k16's A-fragment layout, which tinygemm's packing already is) and x is B
// (MT rows of x per block as wgmma's N). A block is two warpgroups: 128 output columns × MT rows of x.
// Per 128-k step the block copies its x tile into shared memory with cp.async (kStages buffers, the
// copy kStages − 2 steps ahead, zeros past m and k) in wgmma's 128-byte-swizzled K-major form; each
// warp loads its own packed weights two steps ahead into registers, dequantizes a step (the weight
// value the policy defines, rounded once to the dtype) while the previous step's 8 wgmmas run, and
// the accumulators stay in registers. Split-K (split_k.cuh) when the tiles do not fill the chip.
//
// A weight policy P provides what weight_only_gemm.cuh asks (Args, Raw, Cursor, cursor, load,
// col_scale) and fragment<A>(args, raw, j, t, a): the A fragment of k-tile t of span j (k = 32j +
// 16t .. + 16 of the step) for the lane's two rows, dequantized and rounded to A's dtype.
#pragma once
#include <stdint.h>
#include <stdlib.h>

#include <algorithm>
#include <type_traits>

#include "../common/backend.h"
#include "launch.cuh"
#include "split_k.cuh"
#include "wgmma.cuh"

namespace tao {
namespace cuda {
namespace wg {

constexpr int kCopyThreads = 256;  // threads that copy x tiles (the first two warpgroups)
constexpr int kStepK = 128;    // k per step
constexpr int kStages = 4;     // x tiles in shared memory

// Bytes of one staged x tile: two 64-k halves of MT rows × 128 bytes.
template <int MT>
constexpr int tile_bytes() {
  return 2 * MT * 128;
}

__device__ __forceinline__ uint32_t shared_address(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }

// One thread's share of copying x tiles (rows m0..m0+MT, 128 k) into shared memory: chunks
// (8 k) c = tid % 16 of rows tid / 16 + 16u, u < MT / 16, each to half c / 8, row r, 16-byte slot
// (c % 8) ^ (r % 8) of a tile (the same slot for every u). Rows past m and k past k are zeros.
// 32-bit element offsets (the launcher checks m·k < 2^31): four registers of state, kept across steps.
template <int MT>
struct XTileCopy {
  const uint16_t* x;
  int32_t offset;     // element offset of row m0 + tid / 16, column 8c
  int32_t rows16;     // 16 rows of x, in elements
  int32_t rows_left;  // rows of x from row m0 + tid / 16 on
  int32_t col_left;   // k − 8c
  uint32_t dst;       // byte offset of chunk u = 0 in a tile

  __device__ __forceinline__ XTileCopy(const uint16_t* x_, int64_t m, int64_t k, int64_t m0) : x(x_) {
    const int r = threadIdx.x / 16, c = threadIdx.x % 16;
    offset = (int32_t)((m0 + r) * k + 8 * c);
    rows16 = (int32_t)(16 * k);
    rows_left = (int32_t)(m - m0 - r);
    col_left = (int32_t)(k - 8 * c);
    dst = (c / 8) * MT * 128 + r * 128 + (((c % 8) ^ (r % 8)) << 4);
  }
  // Starts the copy of k0..k0+128 into the tile at shared address `tile` (one cp.async group).
  __device__ __forceinline__ void operator()(int32_t k0, uint32_t tile) const {
    const bool k_in = k0 < col_left;
#pragma unroll
    for (int u = 0; u < MT / 16; ++u) {
      const bool on = k_in && 16 * u < rows_left;
      const uint16_t* p = x + (on ? (uint32_t)offset + u * (uint32_t)rows16 + (uint32_t)k0 : 0u);
      asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(tile + dst + u * 16 * 128), "l"(p), "r"(on ? 16 : 0)
                   : "memory");
    }
    asm volatile("cp.async.commit_group;\n" ::: "memory");
  }
};

template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// Block (column block cb, split sp, row block rb), row blocks fastest so the blocks reading one
// weight tile run together and share it through L2.
template <class P, int Dtype, int MT, int WGS>
__global__ void __launch_bounds__(128 * WGS, 1) weight_wgmma_kernel(const typename P::Args a, const wo::Shape s) {
  constexpr int kThreads = 128 * WGS, kCols = 64 * WGS;
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using A = Act<Dtype>;
  extern __shared__ uint8_t smem_raw[];
  const uint32_t smem = (shared_address(smem_raw) + 1023) & ~1023u;
  const int rb = blockIdx.x % s.row_blocks;
  const int sp = (blockIdx.x / s.row_blocks) % s.splits;
  const int64_t cb = blockIdx.x / s.row_blocks / s.splits;
  const int64_t c0 = cb * kCols, r0 = (int64_t)rb * MT;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t col0 = c0 + 16 * warp;
  // Warps past n still take part in the warpgroup's wgmmas (on the last columns' weights); their
  // results are never stored.
  const int64_t load_col = min(col0, (s.n - 1) / 16 * 16);
  const int64_t k_begin = sp * s.split_k, k_end = min(s.k, k_begin + s.split_k);
  const int steps = (int)((k_end - k_begin + kStepK - 1) / kStepK);
  const XTileCopy<MT> copy_x((const uint16_t*)s.x, s.m, s.k, r0);
  const typename P::Cursor cur = P::cursor(a, load_col, k_begin, lane);
  auto tile = [&](int step) { return smem + (uint32_t)(step % kStages) * tile_bytes<MT>(); };

  uint32_t acc[MT / 2];  // f32 bits
#pragma unroll
  for (int i = 0; i < MT / 2; ++i) acc[i] = 0u;
  typename P::Raw raw[2];
  uint32_t frag[2][8][4];
  auto dequantize = [&](const typename P::Raw& r, uint32_t(&f)[8][4]) {
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int t = 0; t < 2; ++t) P::template fragment<A>(a, r, j, t, f[2 * j + t]);
  };
  // One step: wait for its x tile, start the copy kStages − 2 steps ahead (that buffer's wgmmas
  // finished before the barrier), run its 8 wgmmas on fragments f, then — once the previous step's
  // wgmmas are done — dequantize the next step into the other fragments and load the step after.
  auto step = [&](int i, uint32_t(&f)[8][4], uint32_t(&next)[8][4], typename P::Raw& r) {
    cp_async_wait<kStages - 3>();
    __syncthreads();
    if (i + kStages - 2 < steps && threadIdx.x < kCopyThreads) copy_x((int32_t)(k_begin + (i + kStages - 2) * kStepK), tile(i + kStages - 2));
    else asm volatile("cp.async.commit_group;\n" ::: "memory");
    wgmma::fence();
#pragma unroll
    for (int kt = 0; kt < 8; ++kt)
      wgmma::Mma<Dtype, MT>::mma(acc, f[kt], wgmma::desc_b128(tile(i) + (kt / 4) * MT * 128 + (kt % 4) * 32));
    wgmma::commit();
    wgmma::wait<1>();
    if (i + 1 < steps) dequantize(r, next);
    if (i + 3 < steps) P::load(a, cur, i + 3, r);
  };

#pragma unroll
  for (int st = 0; st < kStages - 2; ++st) {
    if (st < steps && threadIdx.x < kCopyThreads) copy_x((int32_t)(k_begin + st * kStepK), tile(st));
    else asm volatile("cp.async.commit_group;\n" ::: "memory");
  }
  P::load(a, cur, 0, raw[0]);
  if (steps > 1) P::load(a, cur, 1, raw[1]);
  dequantize(raw[0], frag[0]);
  if (steps > 2) P::load(a, cur, 2, raw[0]);
  for (int i = 0; i < steps; i += 2) {
    step(i, frag[0], frag[1], raw[1]);
    if (i + 1 < steps) step(i + 1, frag[1], frag[0], raw[0]);
  }
  wgmma::wait<0>();
#pragma unroll
  for (int e = 0; e < MT / 2; ++e) wgmma::fence_operand(acc[e]);
  cp_async_wait<0>();

  // acc[4j + e]: output column col0 + g + 8(e / 2) of x row r0 + 8j + 2q + e % 2.
  const int g = lane / 4, q = lane % 4;
  if (s.splits > 1) {
#pragma unroll
    for (int j = 0; j < MT / 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t col = col0 + g + 8 * (e / 2), row = r0 + 8 * j + 2 * q + e % 2;
        if (col < s.n && row < s.m) s.partial[((int64_t)sp * s.m + row) * s.n + col] = __uint_as_float(acc[4 * j + e]);
      }
    uint32_t* counter = s.counters + cb * s.row_blocks + rb;
    if (!wo::arrive_last(counter, s.splits)) return;
    wo::reduce_tile<P, A, MT, kCols, kThreads>(a, s, c0, r0);
    if (threadIdx.x == 0) *counter = 0;
    return;
  }
  // y through shared memory ([MT][kCols + 8] of the dtype), stored as 16-byte rows of 8 columns.
  __syncthreads();  // every warpgroup is done with the x tiles
  constexpr int kPitch = kCols + 8;
  uint16_t* out = (uint16_t*)(smem_raw + (smem - shared_address(smem_raw)));
#pragma unroll
  for (int j = 0; j < MT / 8; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int cl = 16 * warp + g + 8 * (e / 2);
      const int64_t col = c0 + cl;
      float v = __uint_as_float(acc[4 * j + e]) * P::col_scale(a, col < s.n ? col : 0);
      if (s.bias && col < s.n) v += A::to_f32(((const uint16_t*)s.bias)[col]);
      out[(8 * j + 2 * q + e % 2) * kPitch + cl] = A::from_f32(v);
    }
  __syncthreads();
  uint16_t* y = (uint16_t*)s.y;
  for (int i = threadIdx.x; i < MT * (kCols / 8); i += kThreads) {
    const int r = i / (kCols / 8), c = (i % (kCols / 8)) * 8;
    if (r0 + r < s.m && c0 + c < s.n) *(uint4*)(y + (r0 + r) * s.n + c0 + c) = *(const uint4*)(out + r * kPitch + c);
  }
#endif
}

// Whether the wgmma kernel can serve a call on ctx's device: a build with sm_90a code, a compute
// capability 9.0 device, x and y 16-byte aligned, k and n multiples of 8, m·k < 2^31.
bool wgmma_usable(tao_ctx* ctx, const void* x, const void* y, int64_t m, int64_t n, int64_t k);

// Weights of at least this many elements (e.g. 28672 × 4096, 4096 × 14336) take this kernel from
// m = 17 to 511; smaller ones (4096 × 4096, 6144 × 4096) only for 33 <= m <= 64 (H100, bench/NOTES.md:
// there the small-m kernel is as fast up to 32 and the dequantized scratch + cuBLASLt wins from 128).
constexpr int64_t kLargeWeight = int64_t(1) << 25;
// First m this kernel serves for an n × k weight.
inline int64_t wgmma_from_m(int64_t n, int64_t k) { return n * k >= kLargeWeight ? 17 : 33; }
// m from which dequantize + cuBLASLt serves instead, or $TAO_WEIGHT_ONLY_WGMMA_UNTIL_M when set
// (benchmarks compare both paths with it).
inline int64_t wgmma_until_m(int64_t n, int64_t k) {
  const char* env = getenv("TAO_WEIGHT_ONLY_WGMMA_UNTIL_M");
  if (env && *env) return atoll(env);
  return n * k >= kLargeWeight ? 512 : 65;
}

// Launches the kernel for s.m rows: MT = 64 rows per block up to m = 64, else 128; k-splits as in
// split_k.cuh when the tiles do not fill the chip.
template <class P, int Dtype>
tao_status launch(tao_ctx* ctx, const typename P::Args& a, wo::Shape s, const char* op) {
  TAO_TRY(use_device(ctx, op));
  auto go = [&](auto mt, auto wgs) -> tao_status {
    constexpr int MT = decltype(mt)::value, WGS = decltype(wgs)::value, kThreads = 128 * WGS, kCols = 64 * WGS;
    auto* kernel = weight_wgmma_kernel<P, Dtype, MT, WGS>;
    constexpr int smem = kStages * tile_bytes<MT>() + 1024;
    static_assert(MT * (kCols + 8) * 2 <= kStages * tile_bytes<MT>(), "the output tile reuses the x tiles");
    static int resident = 0;  // blocks per SM, from the occupancy calculator
    if (resident == 0) {
      CUDA_TRY(op, cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
      CUDA_TRY(op, cudaOccupancyMaxActiveBlocksPerMultiprocessor(&resident, kernel, kThreads, smem));
      if (resident < 1) return fail(TAO_ERR_CUDA, op, "the wgmma weight-only kernel does not fit a multiprocessor");
    }
    s.row_blocks = (int32_t)((s.m + MT - 1) / MT);
    const int64_t tiles = (s.n + kCols - 1) / kCols * s.row_blocks, slots = (int64_t)resident * sm_count(ctx->device);
    // Split only grids of less than one wave: partials of a large output cost more than they save.
    wo::choose_split(s, tiles, slots, (s.k + kStepK - 1) / kStepK, kStepK, std::min<int64_t>(slots - 1, kSplitCounters));
    const uint64_t blocks = (uint64_t)tiles * s.splits;
    return wo::launch_with_partials(ctx, s, op, [&] { kernel<<<(unsigned)blocks, kThreads, smem, stream_of(ctx)>>>(a, s); });
  };
  // Two warpgroups per block measured best (three or four: equal or slower, bench/NOTES.md).
  if (s.m <= 64) return go(std::integral_constant<int, 64>(), std::integral_constant<int, 2>());
  return go(std::integral_constant<int, 128>(), std::integral_constant<int, 2>());
}

}  // namespace wg
}  // namespace cuda
}  // namespace tao
