// The weight-only quantized linear for larger m on Hopper (sm_90a): y[m, n] = x[m, k] · Wᵀ with W
// dequantized in registers into wgmma's A operand, never in memory.
//
// Roles as in weight_only_gemm.cuh: the weight is A (64 output columns per warpgroup, each warp's 16
// columns in mma.m16n8k16's A-fragment layout, which tinygemm's packing already is) and x is B
// (MT rows of x per block as wgmma's N). A block is W warpgroups: 64W output columns × MT rows of x.
// W = 4 (256 columns) copies and reads half the x bytes per multiply of W = 2 (128 columns), which
// is what the step costs (bench/NOTES.md, session 8); W = 2 makes twice the tiles, for grids that
// would otherwise split k.
// Every operand of a 128-k step arrives by the bulk tensor copy engine (tma.cuh): the x tile in
// wgmma's 128-byte-swizzled K-major form and the step's packed weights and (scale, zero) words as the
// policy stages them (one staging per 128 columns), zeros past m, n and k, into stages<P, MT, W>()
// stages handed over by full/empty mbarriers, so the warps never meet at a block-wide barrier and
// issue no global loads: thread 0 issues the copies of step i + S − D at step i (into the stage of
// step i − D, which every warp released at step i − 1). With D = 2 fragment sets, while a step's 8
// wgmmas run each warp reads the next step's words from shared memory and dequantizes them (the
// weight value the policy defines, rounded once to the dtype) into the other set; with D = 1 it does
// so after its wgmmas, while the other warpgroups' run. A warp releases a stage once the wgmmas that
// read its x tile are done, and keeps the accumulators in registers. Split-K when the tiles do not
// fill the chip: up to 8 splits of a tile are one thread-block cluster, and the first block adds the
// others' accumulators from their shared memory (DSMEM) in split order, then stores y; more splits
// write f32 partials that the last block to arrive adds (split_k.cuh).
//
// A weight policy P provides Args, Raw and col_scale (as weight_only_gemm.cuh asks), the staging
// (staged_bytes, staged_maps, copy_staged, staged; kStagedWordBytes + kStagedGroupBytes of room a
// stage) and fragment<A>(args, raw, j, t, a): the A fragment of k-tile t of span j (k = 32j + 16t ..
// + 16 of the step) for the lane's two rows, dequantized and rounded to A's dtype.
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

// A block of W warpgroups: 4W warps, 64W output columns (two 128-column staging halves at W = 4).
template <int W>
constexpr int threads() {
  return 128 * W;
}
template <int W>
constexpr int cols() {
  return 64 * W;
}
constexpr int kStepK = 128;  // k per step

// Bytes of one staged x tile: two 64-k halves of MT rows × 128 bytes.
template <int MT>
constexpr int x_tile_bytes() {
  return 2 * MT * 128;
}
// A stage: the x tile (1024-aligned for the swizzle), then per 128 columns the policy's words and groups.
template <class P, int MT, int W>
constexpr int stage_bytes() {
  return (x_tile_bytes<MT>() + W / 2 * (P::kStagedWordBytes + P::kStagedGroupBytes) + 1023) / 1024 * 1024;
}
// Stages: as many as fit next to the barriers in the 227 KB a block may have (5 at MT = 128, 8 at 64
// for W = 2; 4 at MT = 128 for W = 4).
template <class P, int MT, int W>
constexpr int stages() {
  return std::min(8, (227 * 1024 - 2048) / stage_bytes<P, MT, W>());
}
// Shared memory: the stages (from a 1024-aligned base), then full[S] and empty[S] mbarriers.
template <class P, int MT, int W>
constexpr int smem_bytes() {
  return stages<P, MT, W>() * stage_bytes<P, MT, W>() + 16 * stages<P, MT, W>() + 1024;
}

__device__ __forceinline__ uint32_t shared_address(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }

// Block (column block cb, row block rb, split sp), splits fastest (with s.cluster_reduce a cluster of
// s.splits blocks is one tile), then row blocks, so the blocks reading one weight tile run together and
// share it through L2. xmap: x [m, k] in boxes of MT rows × 64 k; word_map, group_map: the policy's.
template <class P, int Dtype, int MT, int W>
__global__ void __launch_bounds__(threads<W>(), 1)
    weight_wgmma_kernel(const __grid_constant__ CUtensorMap xmap, const __grid_constant__ CUtensorMap word_map,
                        const __grid_constant__ CUtensorMap group_map, const typename P::Args a, const wo::Shape s) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int S = stages<P, MT, W>();
  constexpr int kWarps = 4 * W, kThreads = threads<W>(), kCols = cols<W>();
  // Fragment sets: two (the next step dequantized while this one's wgmmas run) where registers allow;
  // one at W = 4 and MT = 128 (128 registers a thread), where the other warpgroups' wgmmas keep the
  // tensor cores busy while one dequantizes.
  constexpr int D = W == 2 || MT <= 64 ? 2 : 1;
  static_assert(S - D >= 2, "copies run at least two steps ahead");
  using A = Act<Dtype>;
  extern __shared__ uint8_t smem_raw[];
  const uint32_t smem = (shared_address(smem_raw) + 1023) & ~1023u;
  uint8_t* const smem_ptr = smem_raw + (smem - shared_address(smem_raw));
  const uint32_t full = smem + S * stage_bytes<P, MT, W>(), empty = full + 8 * S;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (threadIdx.x == 0) {
    for (int st = 0; st < S; ++st) {
      tma::init(full + 8 * st, 1);
      tma::init(empty + 8 * st, kWarps);
    }
    tma::fence_init();
  }
  __syncthreads();
  const int sp = blockIdx.x % s.splits;  // the block's rank in its cluster
  const int rb = (blockIdx.x / s.splits) % s.row_blocks;
  const int64_t cb = blockIdx.x / s.splits / s.row_blocks;
  const int64_t c0 = cb * kCols, r0 = (int64_t)rb * MT;
  const int64_t k_begin = sp * s.split_k, k_end = min(s.k, k_begin + s.split_k);
  const int steps = (int)((k_end - k_begin + kStepK - 1) / kStepK);
  // Stage st: the x tile, then the words of each 128 columns, then their groups.
  auto x_tile = [&](int step) { return smem + (uint32_t)(step % S) * stage_bytes<P, MT, W>(); };
  auto staged_words = [&](int step) { return x_tile(step) + x_tile_bytes<MT>(); };
  auto staged_groups = [&](int step) { return staged_words(step) + W / 2 * P::kStagedWordBytes; };
  auto at = [&](uint32_t address) { return (const uint32_t*)(smem_ptr + (address - smem)); };
  uint32_t acc[MT / 2];  // f32 bits
#pragma unroll
  for (int i = 0; i < MT / 2; ++i) acc[i] = 0u;

  // Step i's operands into stage i % S (thread 0; the stage's previous step, i − S, was released).
  const uint32_t step_bytes = x_tile_bytes<MT>() + W / 2 * P::staged_bytes(a);
  auto copy = [&](int i) {
    const uint32_t st = (uint32_t)(i % S);
    if (i >= S) tma::wait(empty + 8 * st, (uint32_t)((i / S - 1) & 1));
    tma::arrive_expect_tx(full + 8 * st, step_bytes);
    const int64_t k0 = k_begin + (int64_t)i * kStepK;
    tma::load_2d(x_tile(i), &xmap, (int32_t)k0, (int32_t)r0, full + 8 * st);
    tma::load_2d(x_tile(i) + MT * 128, &xmap, (int32_t)k0 + 64, (int32_t)r0, full + 8 * st);
#pragma unroll
    for (int h = 0; h < W / 2; ++h)
      P::copy_staged(a, &word_map, &group_map, k0, c0 + 128 * h, staged_words(i) + h * P::kStagedWordBytes,
                     staged_groups(i) + h * P::kStagedGroupBytes, full + 8 * st);
  };
  if (threadIdx.x == 0)
    for (int i = 0; i < S - D && i < steps; ++i) copy(i);
  uint32_t frag[D][8][4];
  // Waits for step i's stage and dequantizes its weights into f.
  auto dequantize = [&](int i, uint32_t(&f)[8][4]) {
    tma::wait(full + 8 * (uint32_t)(i % S), (uint32_t)((i / S) & 1));
    typename P::Raw r;
    const int h = warp / 8;  // the warp's 128-column half
    P::staged(a, at(staged_words(i) + h * P::kStagedWordBytes), at(staged_groups(i) + h * P::kStagedGroupBytes), warp % 8, lane, r);
#pragma unroll
    for (int j = 0; j < 4; ++j)
#pragma unroll
      for (int t = 0; t < 2; ++t) P::template fragment<A>(a, r, j, t, f[2 * j + t]);
  };
  // One step: run its 8 wgmmas on fragments f (its stage has landed: dequantize waited for it); once
  // the previous step's wgmmas are done, release that step's stage, start a copy and dequantize the
  // next step into the other fragments.
  auto step = [&](int i, uint32_t(&f)[8][4], uint32_t(&next)[8][4]) {
    wgmma::fence();
#pragma unroll
    for (int kt = 0; kt < 8; ++kt)
      wgmma::Mma<Dtype, MT>::mma(acc, f[kt], wgmma::desc_b128(x_tile(i) + (kt / 4) * MT * 128 + (kt % 4) * 32));
    wgmma::commit();
    wgmma::wait<D - 1>();
    if (i >= D - 1 && lane == 0) tma::arrive(empty + 8 * (uint32_t)((i - (D - 1)) % S));
    if (threadIdx.x == 0 && i + S - D < steps) copy(i + S - D);
    if (i + 1 < steps) dequantize(i + 1, next);
  };
  dequantize(0, frag[0]);
  for (int i = 0; i < steps; i += D) {
    step(i, frag[0], frag[D - 1]);
    if (D == 2 && i + 1 < steps) step(i + 1, frag[D - 1], frag[0]);
  }
  wgmma::wait<0>();
#pragma unroll
  for (int e = 0; e < MT / 2; ++e) wgmma::fence_operand(acc[e]);

  // acc[4j + e]: output column c0 + 16·warp + g + 8(e / 2) of x row r0 + 8j + 2q + e % 2.
  const int g = lane / 4, q = lane % 4;
  static_assert(MT * (kCols + 4) * 4 <= stages<P, MT, W>() * stage_bytes<P, MT, W>(), "the split tile reuses the stages");
  if (s.splits > 1 && s.cluster_reduce && !wo::cluster_sum<MT / 8>(acc, (float*)smem_ptr, kWarps, true)) return;
  if (s.splits > 1 && !s.cluster_reduce) {
    const int64_t col0 = c0 + 16 * warp;
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
  __syncthreads();  // every warp is done with the stages (all copies have landed)
  constexpr int kPitch = kCols + 8;
  uint16_t* out = (uint16_t*)smem_ptr;
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
// capability 9.0 device, x, y and the weight's arrays w and groups 16-byte aligned, k and n multiples
// of 8, m·k < 2^31.
bool wgmma_usable(tao_ctx* ctx, const void* x, const void* y, const void* w, const void* groups, int64_t m, int64_t n, int64_t k);

// Every weight takes this kernel from m = 17 to 1024 (H100, session 9, with the batched split-K
// finish: 4096 × 4096 at m = 32 / 128 / 512 / 1024 16.5 / 31.3 / 36.2 / 57.3 µs against the small-m
// kernel's 19.4 and dequantize + cuBLASLt's 37.1 / 46.7 / 66.7; 6144 × 4096 within 5 % of the latter
// at 512–1024; the large weights: session 8, bench/NOTES.md).
// First m this kernel serves, or $TAO_WEIGHT_ONLY_WGMMA_FROM_M when set.
inline int64_t wgmma_from_m() {
  const char* env = getenv("TAO_WEIGHT_ONLY_WGMMA_FROM_M");
  return env && *env ? atoll(env) : 17;
}
// m from which dequantize + cuBLASLt serves instead, or $TAO_WEIGHT_ONLY_WGMMA_UNTIL_M when set
// (benchmarks compare both paths with it).
inline int64_t wgmma_until_m() {
  const char* env = getenv("TAO_WEIGHT_ONLY_WGMMA_UNTIL_M");
  return env && *env ? atoll(env) : 1025;
}

// Sets s.split_k, s.splits and s.cluster_reduce for a grid of `tiles` output tiles on `slots` resident
// blocks (split_k.cuh: only grids of less than one wave split). Up to kMaxClusterSplits splits add
// through their cluster's shared memory, more through global partials; launch() also takes partials
// where the clusters would not all run at once (H100, session 10: clusters of 2 won, e.g. 6144 × 4096
// m = 32 20.0 → 17.7 µs, m = 256 50.2 → 39.0; 32 clusters of 4 lost, 4096 × 14336 m = 32 31.8 → 55.8,
// 4096 × 4096 m = 32 16.7 → 21.6, the GPCs holding fewer than 32 of them at once).
inline void split_grid(wo::Shape& s, int64_t tiles, int64_t slots) {
  wo::choose_split(s, tiles, slots, (s.k + kStepK - 1) / kStepK, kStepK, std::min<int64_t>(slots - 1, kSplitCounters));
  s.cluster_reduce = s.splits > 1 && s.splits <= wo::kMaxClusterSplits;
}

// Warpgroups a block (2 or 4) for s.m rows at mt = 64 or 128 rows a block, on `slots` resident
// blocks, or $TAO_WEIGHT_ONLY_WGMMA_WIDTH (2 or 4) when set. Where four need no split-K: four if
// their waves take no longer than two warpgroups' (a 4-warpgroup step costs 1.68 of a 2-warpgroup
// one). Where four split k: four only if two would split it more ways (H100, session 9: the grid
// with fewer splits won all seven such cells, e.g. 4096 × 4096 m = 256: 2 × 2 splits 34.1 µs,
// 4 × 4 splits 43.5; 6144 × 4096 m = 256: 2 × 4 splits 65.5, 4 × 2 splits 50.3).
inline int warpgroups(const wo::Shape& s, int mt, int64_t slots) {
  const char* env = getenv("TAO_WEIGHT_ONLY_WGMMA_WIDTH");
  if (env && *env) return atoi(env) == 4 ? 4 : 2;
  const int64_t rows = (s.m + mt - 1) / mt, t4 = (s.n + 255) / 256 * rows, t2 = (s.n + 127) / 128 * rows;
  auto splits = [&](int64_t tiles) {
    wo::Shape split = s;
    split_grid(split, tiles, slots);
    return split.splits;
  };
  const int s4 = splits(t4);
  if (s4 > 1) return splits(t2) > s4 ? 4 : 2;
  return (t4 + slots - 1) / slots * 168 <= (t2 + slots - 1) / slots * 100 ? 4 : 2;
}

// Launches the kernel for s.m rows: MT = 32 or 64 rows per block up to those m, else 128, with
// warpgroups() warpgroups; k-splits as in split_k.cuh when the tiles do not fill the chip.
template <class P, int Dtype>
tao_status launch(tao_ctx* ctx, const typename P::Args& a, wo::Shape s, const char* op) {
  TAO_TRY(use_device(ctx, op));
  auto go = [&](auto mt, auto wgs) -> tao_status {
    constexpr int MT = decltype(mt)::value, W = decltype(wgs)::value, kCols = cols<W>(), kThreads = threads<W>();
    auto* kernel = weight_wgmma_kernel<P, Dtype, MT, W>;
    constexpr int smem = smem_bytes<P, MT, W>();
    static_assert(MT * (kCols + 8) * 2 <= stages<P, MT, W>() * stage_bytes<P, MT, W>(), "the output tile reuses the stages");
    static int resident = 0;  // blocks per SM, from the occupancy calculator
    if (resident == 0) {
      CUDA_TRY(op, cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
      CUDA_TRY(op, cudaOccupancyMaxActiveBlocksPerMultiprocessor(&resident, kernel, kThreads, smem));
      if (resident < 1) return fail(TAO_ERR_CUDA, op, "the wgmma weight-only kernel does not fit a multiprocessor");
    }
    CUtensorMap xmap, word_map, group_map;
    const char* what = nullptr;
    CUresult e = tma::encode_rows_swizzle128(&xmap, s.x, (uint64_t)s.m, (uint64_t)s.k, MT, &what);
    if (e != CUDA_SUCCESS)
      return fail(TAO_ERR_CUDA, op, "%s failed (CUresult %d) for x [%lld, %lld]", what, (int)e, (long long)s.m, (long long)s.k);
    e = P::staged_maps(a, &word_map, &group_map, &what);
    if (e != CUDA_SUCCESS)
      return fail(TAO_ERR_CUDA, op, "%s failed (CUresult %d) for the weight's tensor maps (n %lld, k %lld)", what, (int)e, (long long)s.n,
                  (long long)s.k);
    s.row_blocks = (int32_t)((s.m + MT - 1) / MT);
    const int64_t tiles = (s.n + kCols - 1) / kCols * s.row_blocks, slots = (int64_t)resident * sm_count(ctx->device);
    split_grid(s, tiles, slots);
    static int clusters[wo::kMaxClusterSplits + 1] = {};  // active clusters per size, from the occupancy calculator
    if (s.cluster_reduce && clusters[s.splits] == 0) TAO_TRY(wo::active_clusters(kernel, s.splits, kThreads, smem, op, &clusters[s.splits]));
    if (s.cluster_reduce && tiles > clusters[s.splits]) s.cluster_reduce = false;  // a second wave of clusters costs more than partials
    auto run = [&] { return wo::launch_clusters(ctx, s, (uint64_t)tiles * s.splits, kThreads, smem, op, kernel, xmap, word_map, group_map, a, s); };
    if (s.cluster_reduce) return run();
    return wo::launch_with_partials(ctx, s, run);
  };
  using W2 = std::integral_constant<int, 2>;
  using W4 = std::integral_constant<int, 4>;
  if (s.m <= 32) return go(std::integral_constant<int, 32>(), W2());
  // One block an SM at every (MT, W): the stages take most of the shared memory.
  const int w = warpgroups(s, s.m <= 64 ? 64 : 128, sm_count(ctx->device));
  auto at_width = [&](auto mt) { return w == 4 ? go(mt, W4()) : go(mt, W2()); };
  if (s.m <= 64) return at_width(std::integral_constant<int, 64>());
  return at_width(std::integral_constant<int, 128>());
}

}  // namespace wg
}  // namespace cuda
}  // namespace tao
