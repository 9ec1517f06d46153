// The NF4 weight policy (QLoRA / torchao's NF4Tensor, include/tao.h: packed nibbles [n, k/2] row-major,
// one double-quantized scale per 64-weight block) of the weight-only tensor-core kernels
// (weight_only_gemm.cuh, weight_only_gemv.cuh).
//
// Each packed byte (two codes) becomes its pair of levels, rounded to x's dtype, in one shared-memory
// load from a 256-entry table that a block builds once and keeps 32 times over, copy l in bank l, so a
// warp's lookups never conflict (H100, session 10: decoding by byte permutes from tables in registers
// took ~3 instructions a weight and bound an M = 1 product at 0.32 of the memory bound). The block
// scale is applied to the f32 mma result of its 64 k, so the weight the tensor cores see is the level
// alone, and y = Σ_blocks scale(b) · Σ_k level·x.
#pragma once
#include <stdint.h>

#include "../common/backend.h"
#include "../common/nf4.h"
#include "mma.cuh"
#include "stream_load.cuh"

namespace tao {
namespace cuda {

// NF4 seen by one warp: output columns col0 + g and col0 + 8 + g (rows of the weight) for lane
// t = 4g + q. A 128-k step is two 64-weight blocks; in each, lane q reads the 8 bytes at k = 16q of
// both rows (the four lanes of a row cover the block, so every mma k-tile lies in one block and its
// result takes one scale). Bytes 2i, 2i + 1 of a lane's 8 hold the pairs (2q, 2q+1) and (2q+8, 2q+9)
// of the block's mma k-tile i; x stays in natural order (lane q's B fragments are its 16 values at
// k = 16q of the block, two 16-byte reads). k is a multiple of 64 (whole blocks per row).
struct Nf4Rows {
  struct Args {
    Nf4Weight w;
  };
  struct Raw {
    uint2 a[2], b[2];  // blocks 0, 1 of the step: rows col0 + g and col0 + 8 + g
    int32_t code;      // the lane's one block scale of the step (see Cursor): its i8 code,
    float scale2, offset;  // and its group's scale and offset
    int32_t blocks;    // blocks of the step inside k (1 or 2)
  };
  static constexpr int kDepth = 4;
  static constexpr int kXPadBytes = 16;  // staged rows 16 bytes apart mod 128: conflict-free

  static __device__ __forceinline__ int x_slot(int o) { return o; }
  static __host__ __device__ __forceinline__ int sum_shift(const Args&) { return -1; }
  static __device__ __forceinline__ float col_scale(const Args&, int64_t) { return 1.0f; }  // scales are in the step

  // Lane (g, q) loads one of the four block scales the lanes of g need per step: row col0 + g for even
  // q, col0 + 8 + g for odd, block q / 2 of the step; step() passes them round by shuffles. So every
  // load of a step is issued with its weight bytes, none waits in the step.
  struct Cursor {
    const uint8_t* a;
    const uint8_t* b;
    int32_t scale_block;  // block index of the lane's scale at k_begin
    int32_t scale_sp;     // which block of a step that is (q / 2)
    int64_t k0;           // k of the cursor's first block
  };
  static __device__ __forceinline__ Cursor cursor(const Args& a, int64_t col0, int64_t k_begin, int lane) {
    const int g = lane / 4, q = lane % 4;
    const int64_t ra = min(col0 + g, a.w.n - 1), rb = min(col0 + 8 + g, a.w.n - 1), per_row = a.w.k / kNf4Block;
    const int64_t off = k_begin / 2 + 8 * q;
    const int64_t scale_row = q % 2 ? rb : ra;
    return Cursor{a.w.packed + ra * (a.w.k / 2) + off, a.w.packed + rb * (a.w.k / 2) + off,
                  (int32_t)(scale_row * per_row + k_begin / kNf4Block + q / 2), q / 2, k_begin};
  }

  // The step-th 128 k from the cursor: both blocks' bytes and the lane's block scale (zeros for a
  // block past k).
  static __device__ __forceinline__ void load(const Args& a, const Cursor& cur, int step, Raw& r) {
    const int64_t k = cur.k0 + (int64_t)step * 128;
    r.blocks = k >= a.w.k ? 0 : k + 64 >= a.w.k ? 1 : 2;
#pragma unroll
    for (int sp = 0; sp < 2; ++sp) {
      const bool in = sp < r.blocks;
      const int o = step * 64 + 32 * sp;
      r.a[sp] = in ? stream_load8(cur.a + o) : make_uint2(0, 0);
      r.b[sp] = in ? stream_load8(cur.b + o) : make_uint2(0, 0);
    }
    const bool in = cur.scale_sp < r.blocks;
    const int32_t block = cur.scale_block + 2 * step, group = block / (int32_t)kNf4ScaleGroup;
    r.code = in ? __ldg(a.w.qscale + block) : 0;
    r.scale2 = in ? __ldg(a.w.scale2 + group) : 0.0f;
    r.offset = in ? __ldg(a.w.offset + group) : 0.0f;
  }

  // The pair table: word 32b + l holds (level[b >> 4], level[b & 15]) rounded to A's dtype (byte b's
  // codes, the lower k in the low half) for lane l.
  static __device__ __forceinline__ uint32_t* pair_table() {
    __shared__ uint32_t table[256 * 32];
    return table;
  }

  // Builds the pair table (the kernels synchronize the block before the first step).
  template <class A>
  static __device__ void block_setup() {
    constexpr float kLevels[16] = {TAO_NF4_CODES};
    uint32_t* table = pair_table();
    for (int i = threadIdx.x; i < 256 * 32; i += blockDim.x) {
      const int b = i / 32;
      table[i] = (uint32_t)A::from_f32(kLevels[b >> 4]) | (uint32_t)A::from_f32(kLevels[b & 15]) << 16;
    }
  }

  template <class A, int NB>
  static __device__ __forceinline__ void step(const Args&, const Raw& r, const uint16_t* xrow, int stride, const float*, int,
                                              int lane, float (&acc)[NB][4]) {
    const uint32_t* table = pair_table() + lane;
    auto pair = [&](uint32_t word, int byte) { return table[__byte_perm(word, 0, 0x4440 + byte) * 32]; };
    const int q = lane % 4, quad = lane & ~3;
    const float mine = nf4_block_scale((int8_t)r.code, r.scale2, r.offset);
    float scale[2][2];  // [block of the step][row a, row b]: lane quad + 2·sp + row's scale
#pragma unroll
    for (int sp = 0; sp < 2; ++sp)
#pragma unroll
      for (int row = 0; row < 2; ++row) scale[sp][row] = __shfl_sync(0xFFFFFFFFu, mine, quad + 2 * sp + row);
#pragma unroll
    for (int sp = 0; sp < 2; ++sp) {
      if (sp >= r.blocks) break;
      const float sa = scale[sp][0], sb = scale[sp][1];
      uint4 xv[NB][2];
#pragma unroll
      for (int b = 0; b < NB; ++b)
#pragma unroll
        for (int h = 0; h < 2; ++h) xv[b][h] = *(const uint4*)(xrow + b * 8 * stride + 64 * sp + 16 * q + 8 * h);
      float part[NB][4] = {};
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const uint32_t wa = i < 2 ? r.a[sp].x : r.a[sp].y, wb = i < 2 ? r.b[sp].x : r.b[sp].y;
        const int lo = 2 * (i % 2);  // bytes 2i, 2i + 1 of the lane's 8: k pairs (2q, 2q+1), (2q+8, 2q+9)
        const uint32_t f[4] = {pair(wa, lo), pair(wb, lo), pair(wa, lo + 1), pair(wb, lo + 1)};
#pragma unroll
        for (int b = 0; b < NB; ++b) {
          const uint4& v = xv[b][i / 2];
          A::mma(part[b], f, i % 2 ? v.z : v.x, i % 2 ? v.w : v.y);
        }
      }
#pragma unroll
      for (int b = 0; b < NB; ++b) {
        acc[b][0] = fmaf(sa, part[b][0], acc[b][0]);
        acc[b][1] = fmaf(sa, part[b][1], acc[b][1]);
        acc[b][2] = fmaf(sb, part[b][2], acc[b][2]);
        acc[b][3] = fmaf(sb, part[b][3], acc[b][3]);
      }
    }
  }
};

}  // namespace cuda
}  // namespace tao
