// The weight-only quantized linear for larger m on Hopper (sm_90a): y[m, n] = x[m, k] · Wᵀ with W
// dequantized in registers into wgmma's A operand, never in memory.
//
// Roles as in weight_only_gemm.cuh: the weight is A (64 output columns per warpgroup, each warp's 16
// columns in mma.m16n8k16's A-fragment layout, which tinygemm's packing already is) and x is B
// (MT rows of x per block as wgmma's N). A block is two warpgroups: 128 output columns × MT rows of x.
// The x tiles (128 k per step) come by the bulk tensor copy engine (tma.cuh) in wgmma's 128-byte-
// swizzled K-major form, zeros past m and k, into kStages stages handed over by full/empty
// mbarriers, so the warps never meet at a block-wide barrier per step: thread 0 issues the copy of
// step i + kStages − 2 at step i (into the stage of step i − 2, which every warp released at step
// i − 1). Each warp loads its own packed weights two steps ahead into registers, dequantizes a step
// (the weight value the policy defines, rounded once to the dtype) while the previous step's 8
// wgmmas run, releases a stage once the wgmmas that read it are done, and keeps the accumulators in
// registers. Split-K (split_k.cuh) when the tiles do not fill the chip.
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
#include "tma.cuh"
#include "wgmma.cuh"

namespace tao {
namespace cuda {
namespace wg {

constexpr int kWarps = 8;
constexpr int kThreads = 32 * kWarps;
constexpr int kCols = 16 * kWarps;  // output columns per block
constexpr int kStepK = 128;         // k per step
constexpr int kStages = 4;          // x tiles in shared memory (5 or 8 measured no faster, bench/NOTES.md)

// Bytes of one staged x tile: two 64-k halves of MT rows × 128 bytes.
template <int MT>
constexpr int tile_bytes() {
  return 2 * MT * 128;
}
// Shared memory: kStages x tiles (1024-aligned), then full[kStages] and empty[kStages] mbarriers.
template <int MT>
constexpr int smem_bytes() {
  return kStages * tile_bytes<MT>() + 16 * kStages + 1024;
}

__device__ __forceinline__ uint32_t shared_address(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }

// Block (column block cb, split sp, row block rb), row blocks fastest so the blocks reading one
// weight tile run together and share it through L2. xmap: x [m, k] in boxes of MT rows × 64 k.
template <class P, int Dtype, int MT>
__global__ void __launch_bounds__(kThreads, 1) weight_wgmma_kernel(const __grid_constant__ CUtensorMap xmap, const typename P::Args a,
                                                                   const wo::Shape s) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int S = kStages;
  using A = Act<Dtype>;
  extern __shared__ uint8_t smem_raw[];
  const uint32_t smem = (shared_address(smem_raw) + 1023) & ~1023u;
  const uint32_t full = smem + S * tile_bytes<MT>(), empty = full + 8 * S;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (threadIdx.x == 0) {
    for (int st = 0; st < S; ++st) {
      tma::init(full + 8 * st, 1);
      tma::init(empty + 8 * st, kWarps);
    }
    tma::fence_init();
  }
  __syncthreads();
  const int rb = blockIdx.x % s.row_blocks;
  const int sp = (blockIdx.x / s.row_blocks) % s.splits;
  const int64_t cb = blockIdx.x / s.row_blocks / s.splits;
  const int64_t c0 = cb * kCols, r0 = (int64_t)rb * MT;
  const int64_t k_begin = sp * s.split_k, k_end = min(s.k, k_begin + s.split_k);
  const int steps = (int)((k_end - k_begin + kStepK - 1) / kStepK);
  auto tile = [&](int step) { return smem + (uint32_t)(step % S) * tile_bytes<MT>(); };
  const int64_t col0 = c0 + 16 * warp;
  uint32_t acc[MT / 2];  // f32 bits
#pragma unroll
  for (int i = 0; i < MT / 2; ++i) acc[i] = 0u;

  // Step i's x tile into stage i % S (thread 0; the stage's previous step, i − S, was released).
  auto copy = [&](int i) {
    const uint32_t st = (uint32_t)(i % S);
    if (i >= S) tma::wait(empty + 8 * st, (uint32_t)((i / S - 1) & 1));
    tma::arrive_expect_tx(full + 8 * st, tile_bytes<MT>());
    const int32_t k0 = (int32_t)(k_begin + (int64_t)i * kStepK);
    tma::load_2d(tile(i), &xmap, k0, (int32_t)r0, full + 8 * st);
    tma::load_2d(tile(i) + MT * 128, &xmap, k0 + 64, (int32_t)r0, full + 8 * st);
  };
  if (threadIdx.x == 0)
    for (int i = 0; i < S - 2 && i < steps; ++i) copy(i);
  // Warps past n still take part in the warpgroup's wgmmas (on the last columns' weights); their
  // results are never stored.
  const int64_t load_col = min(col0, (s.n - 1) / 16 * 16);
  const typename P::Cursor cur = P::cursor(a, load_col, k_begin, lane);
  typename P::Raw raw[2];
  uint32_t frag[2][8][4];
  auto dequantize = [&](const typename P::Raw& r, uint32_t(&f)[8][4]) {
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int t = 0; t < 2; ++t) P::template fragment<A>(a, r, j, t, f[2 * j + t]);
  };
  // One step: wait for its x tile, run its 8 wgmmas on fragments f; once the previous step's wgmmas
  // are done, release that step's stage, start a copy, dequantize the next step into the other
  // fragments and load the step after.
  auto step = [&](int i, uint32_t(&f)[8][4], uint32_t(&next)[8][4], typename P::Raw& r) {
    tma::wait(full + 8 * (uint32_t)(i % S), (uint32_t)((i / S) & 1));
    wgmma::fence();
#pragma unroll
    for (int kt = 0; kt < 8; ++kt)
      wgmma::Mma<Dtype, MT>::mma(acc, f[kt], wgmma::desc_b128(tile(i) + (kt / 4) * MT * 128 + (kt % 4) * 32));
    wgmma::commit();
    wgmma::wait<1>();
    if (i > 0 && lane == 0) tma::arrive(empty + 8 * (uint32_t)((i - 1) % S));
    if (threadIdx.x == 0 && i + S - 2 < steps) copy(i + S - 2);
    if (i + 1 < steps) dequantize(r, next);
    if (i + 3 < steps) P::load(a, cur, i + 3, r);
  };
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
  __syncthreads();  // every warp is done with the x tiles (all copies have landed)
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
// m = 17 to 512 (at 512 it beat dequantize + cuBLASLt by 15 %, at 1024 lost by 13 %); smaller ones
// (4096 × 4096, 6144 × 4096) only for 33 <= m <= 64 (H100, bench/NOTES.md: there the small-m kernel is
// as fast up to 32 and the dequantized scratch + cuBLASLt wins from 128).
constexpr int64_t kLargeWeight = int64_t(1) << 25;
// First m this kernel serves for an n × k weight.
inline int64_t wgmma_from_m(int64_t n, int64_t k) { return n * k >= kLargeWeight ? 17 : 33; }
// m from which dequantize + cuBLASLt serves instead, or $TAO_WEIGHT_ONLY_WGMMA_UNTIL_M when set
// (benchmarks compare both paths with it).
inline int64_t wgmma_until_m(int64_t n, int64_t k) {
  const char* env = getenv("TAO_WEIGHT_ONLY_WGMMA_UNTIL_M");
  if (env && *env) return atoll(env);
  return n * k >= kLargeWeight ? 513 : 65;
}

// Launches the kernel for s.m rows: MT = 64 rows per block up to m = 64, else 128; k-splits as in
// split_k.cuh when the tiles do not fill the chip.
template <class P, int Dtype>
tao_status launch(tao_ctx* ctx, const typename P::Args& a, wo::Shape s, const char* op) {
  TAO_TRY(use_device(ctx, op));
  auto go = [&](auto mt) -> tao_status {
    constexpr int MT = decltype(mt)::value;
    auto* kernel = weight_wgmma_kernel<P, Dtype, MT>;
    constexpr int smem = smem_bytes<MT>();
    static_assert(MT * (kCols + 8) * 2 <= kStages * tile_bytes<MT>(), "the output tile reuses the x tiles");
    static int resident = 0;  // blocks per SM, from the occupancy calculator
    if (resident == 0) {
      CUDA_TRY(op, cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
      CUDA_TRY(op, cudaOccupancyMaxActiveBlocksPerMultiprocessor(&resident, kernel, kThreads, smem));
      if (resident < 1) return fail(TAO_ERR_CUDA, op, "the wgmma weight-only kernel does not fit a multiprocessor");
    }
    CUtensorMap xmap;
    const char* what = nullptr;
    const CUresult e = tma::encode_rows_swizzle128(&xmap, s.x, (uint64_t)s.m, (uint64_t)s.k, MT, &what);
    if (e != CUDA_SUCCESS)
      return fail(TAO_ERR_CUDA, op, "%s failed (CUresult %d) for x [%lld, %lld]", what, (int)e, (long long)s.m, (long long)s.k);
    s.row_blocks = (int32_t)((s.m + MT - 1) / MT);
    const int64_t tiles = (s.n + kCols - 1) / kCols * s.row_blocks, slots = (int64_t)resident * sm_count(ctx->device);
    // Split only grids of less than one wave: partials of a large output cost more than they save.
    wo::choose_split(s, tiles, slots, (s.k + kStepK - 1) / kStepK, kStepK, std::min<int64_t>(slots - 1, kSplitCounters));
    const uint64_t blocks = (uint64_t)tiles * s.splits;
    return wo::launch_with_partials(ctx, s, op, [&] { kernel<<<(unsigned)blocks, kThreads, smem, stream_of(ctx)>>>(xmap, a, s); });
  };
  if (s.m <= 64) return go(std::integral_constant<int, 64>());
  return go(std::integral_constant<int, 128>());
}

}  // namespace wg
}  // namespace cuda
}  // namespace tao
