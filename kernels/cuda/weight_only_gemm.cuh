// The weight-only quantized linear skeleton shared by the int4 (tinygemm layout) and int8 kernels:
// y[m, n] = x[m, k] · Wᵀ with W dequantized in registers, never in memory.
//
// Tensor cores with the roles swapped: the weight is the A operand of mma.m16n8k16 (16 output
// columns as its rows), x the B operand (8 rows of x as its columns), so a single row of x wastes
// 7/8 of each mma rather than 15/16, and each dequantized weight fragment serves NB groups of 8
// rows. A warp owns 16 output columns; a block of kWarps warps owns 16·kWarps columns, 8·NB rows
// and one k-range (split-K). Per stage the block stages its rows of x for KC values of k in shared
// memory in the weight policy's k order (blocks of 16 rows copy it by cp.async from x put in that
// order once per call by prepare_x_kernel), then each warp streams its columns' weights, 128 k per
// step, with the next steps' loads in flight while it computes.
//
// Split-K is deterministic: each block writes f32 partials, and the last block to arrive at an
// output tile (a semaphore in ctx->counters, reset by that block) adds them in split order,
// applies the epilogue and stores y. Without a split, the epilogue runs on the accumulators.
//
// A weight policy P provides: Args; Raw (registers of one step); kXPadBytes; x_slot(o) (where k
// offset o of a 128-step lives in a staged row); kDepth (steps of loads in flight); Cursor and
// cursor(args, col0, k_begin, lane) (a warp's pointers at the start of its k-range);
// load(args, cursor, step, raw) for the step-th 128 k from there; block_setup<A>() (a block's shared
// tables, built before its first step, which follows a barrier); sum_shift(args) (log2 of the
// chunk of k whose Σx per row the policy wants staged, or -1); and step<A, NB>(args, raw, x rows,
// stride, x sums, sums stride, lane, acc), which runs the step's 8 mma k-tiles.
// Epilogue: y = acc·P::col_scale(args, col) + bias, rounded once.
#pragma once
#include <stdint.h>
#include <stdlib.h>

#include "../common/backend.h"
#include "launch.cuh"
#include "mma.cuh"
#include "split_k.cuh"

namespace tao {
namespace cuda {
namespace wo {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kStepK = 128;          // k per step
constexpr int kStageBytes = 64 << 10;  // staged x per block

// k staged per stage: what fits kStageBytes for 8·NB rows (4096 for NB = 1: a k = 4096 weight needs
// one stage, so the loads never drain at a stage boundary).
template <int NB>
constexpr int stage_k() {
  return kStageBytes / (8 * NB * 2) / kStepK * kStepK;
}

// Stages rows r0.. of x that exist (at most 8NB) for k in [kb, kb + kc) into xs, in the policy's
// order within each 128-step, zeros beyond k. The rows left unstaged only ever reach the mma
// output columns of rows that do not exist, which are never stored. With sum_shift >= 5 it also writes
// xsum[row][c] = Σ x over the c-th chunk of 2^sum_shift values (a quantization group within a
// step), reduced across lanes in a fixed order.
template <class P, class A, int NB, int Threads = kThreads>
__device__ __forceinline__ void stage_x(const Shape& s, int64_t r0, int64_t kb, int kc, uint16_t* xs, int stride, float* xsum,
                                        int xsum_stride, int sum_shift) {
  // Items a thread loads before it stores any: one L2 round trip per batch. 4 spilled registers at
  // NB = 2 (the step's weight loads in flight hold the rest of the 128).
  constexpr int kBatch = 2;
  const uint16_t* x = (const uint16_t*)s.x;
  const int per_row = kc / 8;  // 8-value groups: a multiple of 16, so a warp's lanes share the trip count
  const int rows = (int)min((int64_t)8 * NB, s.m - r0), items = rows * per_row;
  const bool vec = s.k % 8 == 0 && ((uintptr_t)x % 16) == 0;
  for (int i0 = threadIdx.x; i0 < items; i0 += Threads * kBatch) {
    uint4 v[kBatch];
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      const int i = i0 + b * Threads;
      if (i >= items) break;
      const int64_t row = r0 + i / per_row, k0 = kb + (i % per_row) * 8;
      if (vec && k0 + 8 <= s.k) {
        v[b] = *(const uint4*)(x + row * s.k + k0);
      } else {
        uint16_t e8[8];
#pragma unroll
        for (int e = 0; e < 8; ++e) e8[e] = k0 + e < s.k ? x[row * s.k + k0 + e] : 0;
        v[b] = *(const uint4*)e8;
      }
    }
#pragma unroll
    for (int b = 0; b < kBatch; ++b) {
      const int i = i0 + b * Threads;
      if (i >= items) break;  // items come in aligned runs of 16 lanes: a 16-lane half is all in or out
      const int r = i / per_row, o = (i % per_row) * 8;
      const uint32_t w[4] = {v[b].x, v[b].y, v[b].z, v[b].w};
      uint16_t* dst = xs + r * stride + (o / kStepK) * kStepK;
#pragma unroll
      for (int e = 0; e < 4; ++e) *(uint32_t*)(dst + P::x_slot(o % kStepK + 2 * e)) = w[e];
      if (sum_shift < 5) continue;
      float sum = 0.0f;
#pragma unroll
      for (int e = 0; e < 4; ++e) sum = sum + A::to_f32((uint16_t)(w[e] & 0xFFFF)) + A::to_f32((uint16_t)(w[e] >> 16));  // k order
      const unsigned half = threadIdx.x % 32 < 16 ? 0x0000FFFFu : 0xFFFF0000u;
      for (int sh = 1; sh < (1 << sum_shift) / 8; sh <<= 1) sum += __shfl_xor_sync(half, sum, sh);
      if ((o & ((1 << sum_shift) - 1)) == 0) xsum[r * xsum_stride + (o >> sum_shift)] = sum;
    }
  }
}

// 16 and 4 bytes from global to shared memory without registers (cp.async), and the wait for them.
__device__ __forceinline__ void cp_async16(void* dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"((uint32_t)__cvta_generic_to_shared(dst)), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async4(void* dst, const void* src) {
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"((uint32_t)__cvta_generic_to_shared(dst)), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_all;\n" ::: "memory"); }

// x prepared once per call for blocks of more than 8 rows: what stage_x would write to shared memory,
// for every row and k, in global memory (xp: rows of s.xp_ld values in the policy's order, zeros past
// k; sums: rows of s.xp_sums_ld Σx chunks), so each block's stage becomes a copy. Block (c, rb) does
// k in [128c, 128c + 128) of rows 8NB·rb...
template <class P, class A, int NB>
__global__ void __launch_bounds__(kThreads) prepare_x_kernel(const typename P::Args a, const Shape s, uint16_t* xp, float* sums) {
  const int sum_shift = P::sum_shift(a);
  const int64_t kb = (int64_t)blockIdx.x * kStepK, r0 = (int64_t)blockIdx.y * 8 * NB;
  float* row_sums = sum_shift >= 5 ? sums + r0 * s.xp_sums_ld + (kb >> sum_shift) : nullptr;
  stage_x<P, A, NB>(s, r0, kb, kStepK, xp + r0 * s.xp_ld + kb, (int)s.xp_ld, row_sums, (int)s.xp_sums_ld, sum_shift);
}

// A block's stage from the prepared x: rows r0.. (those that exist) for k in [kb, kb + kc) into xs
// (rows `stride` apart) and their Σx chunks into xsum, as stage_x would have written them.
template <int NB>
__device__ __forceinline__ void copy_prepared(const Shape& s, int64_t r0, int64_t kb, int kc, uint16_t* xs, int stride, float* xsum,
                                              int xsum_stride, int sum_shift) {
  const int rows = (int)min((int64_t)8 * NB, s.m - r0), pieces = kc / 8;  // 16-byte pieces of a row
  for (int i = threadIdx.x; i < rows * pieces; i += kThreads) {
    const int r = i / pieces, p = i % pieces;
    cp_async16(xs + r * stride + 8 * p, s.xp + (r0 + r) * s.xp_ld + kb + 8 * p);
  }
  if (sum_shift >= 5) {
    const int chunks = kc >> sum_shift;
    for (int i = threadIdx.x; i < rows * chunks; i += kThreads) {
      const int r = i / chunks, c = i % chunks;
      cp_async4(xsum + r * xsum_stride + c, s.xp_sums + (r0 + r) * s.xp_sums_ld + (kb >> sum_shift) + c);
    }
  }
  cp_async_wait_all();
}

// y (or the partial) for the accumulators of one warp: lane (g, q) holds columns col0 + g and
// col0 + 8 + g of rows 8b + 2q and 8b + 2q + 1 of its row block.
template <class P, class A, int NB>
__device__ __forceinline__ void store_tile(const typename P::Args& a, const Shape& s, int64_t col0, int64_t r0, int lane,
                                           const float (&acc)[NB][4], int split) {
  const int g = lane / 4, q = lane % 4;
#pragma unroll
  for (int b = 0; b < NB; ++b)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int64_t col = col0 + g + 8 * (e / 2), row = r0 + 8 * b + 2 * q + (e % 2);
      if (col >= s.n || row >= s.m) continue;
      if (s.splits > 1) {
        s.partial[((int64_t)split * s.m + row) * s.n + col] = acc[b][e];
      } else {
        float v = acc[b][e] * P::col_scale(a, col);
        if (s.bias) v += A::to_f32(((const uint16_t*)s.bias)[col]);
        ((uint16_t*)s.y)[row * s.n + col] = A::from_f32(v);
      }
    }
}

// One block: columns c0 = 16·kWarps·cg.., rows r0 = 8·NB·rb.., k in split sp. Blocks are ordered
// row block fastest, so the blocks reading one weight tile run together and share it through L2.
template <class P, class A, int NB, int D>
__global__ void __launch_bounds__(kThreads, 2) weight_only_kernel(const typename P::Args a, const Shape s) {
  extern __shared__ __align__(16) uint16_t xs[];
  constexpr int KC = stage_k<NB>();
  constexpr int stride = KC + P::kXPadBytes / 2, xsum_stride = KC / 32 + 1;
  float* xsum = (float*)(xs + 8 * NB * stride);  // [8NB][xsum_stride] group sums of x (policies that ask)
  const int sum_shift = P::sum_shift(a);
  const int rb = blockIdx.x % s.row_blocks;
  const int sp = (blockIdx.x / s.row_blocks) % s.splits;
  const int64_t cg = blockIdx.x / s.row_blocks / s.splits;
  const int64_t c0 = cg * 16 * kWarps, r0 = (int64_t)rb * 8 * NB;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t col0 = c0 + 16 * warp;
  const bool active = col0 < s.n;
  const int64_t k_begin = sp * s.split_k, k_end = min(s.k, k_begin + s.split_k);
  const typename P::Cursor cur = P::cursor(a, active ? col0 : 0, k_begin, lane);

  P::template block_setup<A>();
  float acc[NB][4] = {};
  for (int64_t kb = k_begin; kb < k_end; kb += KC) {
    const int kc = (int)min((int64_t)KC, k_end - kb);
    const int steps = (kc + kStepK - 1) / kStepK, first = (int)((kb - k_begin) / kStepK);
    typename P::Raw raw[D];
#pragma unroll
    for (int d = 0; d < D; ++d)
      if (active && d < steps) P::load(a, cur, first + d, raw[d]);
    __syncthreads();  // the previous stage's x is no longer read
    if constexpr (NB > 1)
      copy_prepared<NB>(s, r0, kb, steps * kStepK, xs, stride, xsum, xsum_stride, sum_shift);
    else
      stage_x<P, A, NB>(s, r0, kb, steps * kStepK, xs, stride, xsum, xsum_stride, sum_shift);
    __syncthreads();
    if (!active) continue;
    const uint16_t* xrow = xs + (lane / 4) * stride;
    for (int i = 0; i < steps; i += D) {
#pragma unroll
      for (int d = 0; d < D; ++d) {
        if (i + d >= steps) break;
        P::template step<A, NB>(a, raw[d], xrow + (i + d) * kStepK, stride, xsum + (((i + d) * kStepK) >> max(sum_shift, 5)),
                                xsum_stride, lane, acc);
        if (i + d + D < steps) P::load(a, cur, first + i + d + D, raw[d]);
      }
    }
  }
  if (active) store_tile<P, A, NB>(a, s, col0, r0, lane, acc, sp);
  if (s.splits == 1) return;
  uint32_t* counter = s.counters + cg * s.row_blocks + rb;
  if (!arrive_last(counter, s.splits)) return;
  reduce_tile<P, A, 8 * NB, 16 * kWarps, kThreads>(a, s, c0, r0);
  if (threadIdx.x == 0) *counter = 0;
}

// Launches the kernel for s.m rows: NB from m, row blocks of 8·NB rows, and as many k-splits as
// it takes for the grid to fill the chip once (k per split a multiple of 128). Partials come from
// the context's pool; the semaphores are ctx->counters.
template <class P, class A, int NB>
tao_status launch_nb(tao_ctx* ctx, const typename P::Args& a, Shape s, const char* op) {
  auto* kernel = weight_only_kernel<P, A, NB, P::kDepth>;
  constexpr int smem = 8 * NB * ((stage_k<NB>() + P::kXPadBytes / 2) * 2 + (stage_k<NB>() / 32 + 1) * 4);
  static int resident = 0;  // blocks per SM, from the occupancy calculator
  if (resident == 0) {
    CUDA_TRY(op, cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
    CUDA_TRY(op, cudaOccupancyMaxActiveBlocksPerMultiprocessor(&resident, kernel, kThreads, smem));
    if (resident < 1) return fail(TAO_ERR_CUDA, op, "the weight-only kernel does not fit a multiprocessor");
  }
  s.row_blocks = (int32_t)((s.m + 8 * NB - 1) / (8 * NB));
  const int64_t col_groups = (s.n + 16 * kWarps - 1) / (16 * kWarps);
  const int64_t tiles = col_groups * s.row_blocks, slots = (int64_t)resident * sm_count(ctx->device);
  choose_split(s, tiles, slots, (s.k + kStepK - 1) / kStepK, kStepK, kSplitCounters);
  const uint64_t blocks = (uint64_t)tiles * s.splits;
  void* prepared = nullptr;
  if constexpr (NB > 1) {  // blocks of 16 rows copy their stages from x prepared once (prepare_x_kernel)
    const int sum_shift = P::sum_shift(a);
    s.xp_ld = (s.k + kStepK - 1) / kStepK * kStepK;
    s.xp_sums_ld = sum_shift >= 5 ? s.xp_ld >> sum_shift : 0;
    const uint64_t xp_bytes = (uint64_t)s.m * s.xp_ld * 2;
    TAO_TRY(alloc(ctx, xp_bytes + (uint64_t)s.m * s.xp_sums_ld * 4, &prepared));
    s.xp = (const uint16_t*)prepared;
    s.xp_sums = s.xp_sums_ld ? (const float*)((char*)prepared + xp_bytes) : nullptr;
    prepare_x_kernel<P, A, NB><<<dim3((unsigned)(s.xp_ld / kStepK), (unsigned)s.row_blocks), kThreads, 0, stream_of(ctx)>>>(
        a, s, (uint16_t*)prepared, (float*)s.xp_sums);
  }
  tao_status st = NB > 1 ? check_launch(op) : TAO_OK;
  if (st == TAO_OK)
    st = launch_with_partials(ctx, s, [&] {
      kernel<<<(unsigned)blocks, kThreads, smem, stream_of(ctx)>>>(a, s);
      return check_launch(op);
    });
  if (prepared) {
    const tao_status fs = release(ctx, prepared);
    if (st == TAO_OK) st = fs;
  }
  return st;
}

// Rows of x one launch serves at most: beyond it the weight is read again per block of rows and
// a dense product wins (bench/NOTES.md), so callers switch to dequantize + cuBLASLt.
constexpr int64_t kMaxRows = 32;

// m from which the weight-only linears dequantize and call cuBLASLt instead: kMaxRows + 1, or
// $TAO_WEIGHT_ONLY_DENSE_FROM_M when it is lower (the tests use it to run the dense path at small m).
inline int64_t dense_from_m() {
  const char* env = getenv("TAO_WEIGHT_ONLY_DENSE_FROM_M");
  const int64_t v = env && *env ? atoll(env) : kMaxRows + 1;
  return v >= 1 && v <= kMaxRows ? v : kMaxRows + 1;
}

// Picks NB (rows of x per block in groups of 8) from m <= kMaxRows: 8 rows, else blocks of 16.
template <class P, class A>
tao_status launch(tao_ctx* ctx, const typename P::Args& a, const Shape& s, const char* op) {
  TAO_TRY(use_device(ctx, op));
  if (s.m <= 8) return launch_nb<P, A, 1>(ctx, a, s, op);
  return launch_nb<P, A, 2>(ctx, a, s, op);
}

}  // namespace wo
}  // namespace cuda
}  // namespace tao
