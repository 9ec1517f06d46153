// The 2:4 compressed weight policy (include/tao.h: values [n, k/2] of x's 16-bit dtype, two per group
// of 4 along k, and meta u8 [n, k/4], one byte of positions per group) of the weight-only tensor-core
// kernels (weight_only_gemm.cuh, weight_only_gemv.cuh): small-m sparse linears read 5 bytes per 4
// weights where a dense bf16 product reads 8, and no dense weight is ever written.
//
// A group becomes its 4 dense values by two byte permutes of its value pair, whose selectors come
// from a 16-entry table indexed by the meta nibble (shared memory; a warp's lookups hit at most 16
// words, so they never conflict). The weight the tensor cores see is the stored values exactly.
#pragma once
#include <stdint.h>

#include "mma.cuh"

namespace tao {
namespace cuda {

// The weight seen by one warp: output columns col0 + g and col0 + 8 + g (rows) for lane t = 4g + q.
// In a 128-k step (32 groups) lane q takes groups 8q..8q+7 of both rows: 32 value bytes (two 16-byte
// loads) and 8 meta bytes (one 8-byte load) a row. Group 8q + i is the lane's 4 values of mma k-tile
// i ((2q, 2q+1) and (2q+8, 2q+9) are the group's dense elements 0-1 and 2-3), so lane q's B fragments
// for tile i are x[32q + 4i .. 32q + 4i + 3]: x in natural order. k is a multiple of 32 (whole lane
// chunks; the caller takes the dense path otherwise), values and meta rows are then 16- and 8-byte
// aligned given aligned bases.
struct Sparse24Rows {
  struct Args {
    const uint8_t* values;  // [n, k/2] 16-bit values, rows k bytes apart
    const uint8_t* meta;    // [n, k/4], rows k/4 bytes apart
    int64_t n, k;
  };
  struct Raw {
    uint4 va[2], vb[2];  // the lane's 16 values of rows col0 + g and col0 + 8 + g
    uint2 ma, mb;        // their 8 meta bytes
  };
  static constexpr int kDepth = 2;
  static constexpr int kXPadBytes = 16;  // staged rows 16 bytes apart mod 128: conflict-free

  static __device__ __forceinline__ int x_slot(int o) { return o; }
  static __host__ __device__ __forceinline__ int sum_shift(const Args&) { return -1; }
  static __device__ __forceinline__ float col_scale(const Args&, int64_t) { return 1.0f; }

  // The selector table: word b (a meta nibble i0 | i1 << 2) holds the byte-permute selectors of dense
  // elements 0-1 (low half) and 2-3 (high half) from the value pair (bytes 0-1: the first value, 2-3:
  // the second, 4: zero): element i1 takes the second value, else element i0 the first, else zero (the
  // order tao_sparse24_decompress writes them in).
  static __device__ __forceinline__ uint32_t* selector_table() {
    __shared__ uint32_t table[16];
    return table;
  }

  // Builds the selector table (the kernels synchronize the block before the first step).
  template <class A>
  static __device__ void block_setup() {
    if (threadIdx.x >= 16) return;
    const int i0 = threadIdx.x & 3, i1 = threadIdx.x >> 2;
    uint32_t sel = 0;
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const uint32_t bytes = e == i1 ? 0x32u : e == i0 ? 0x10u : 0x44u;  // (high byte, low byte) selectors
      sel |= (bytes & 0xFu) << (8 * e) | (bytes >> 4) << (8 * e + 4);
    }
    selector_table()[threadIdx.x] = sel;
  }

  struct Cursor {
    const uint8_t* va;
    const uint8_t* vb;
    const uint8_t* ma;
    const uint8_t* mb;
    int64_t k0;  // k of the lane's first value
  };
  static __device__ __forceinline__ Cursor cursor(const Args& a, int64_t col0, int64_t k_begin, int lane) {
    const int g = lane / 4, q = lane % 4;
    const int64_t ra = min(col0 + g, a.n - 1), rb = min(col0 + 8 + g, a.n - 1), k0 = k_begin + 32 * q;
    return Cursor{a.values + ra * a.k + k0, a.values + rb * a.k + k0, a.meta + ra * (a.k / 4) + k0 / 4, a.meta + rb * (a.k / 4) + k0 / 4, k0};
  }

  // The step-th 128 k from the cursor (zeros for a lane chunk past k: zero values give zero weights).
  static __device__ __forceinline__ void load(const Args& a, const Cursor& cur, int step, Raw& r) {
    const int o = step * 128;  // value bytes (2 per k of a 16-bit pair of 4 k) and k both advance 128
    const bool in = cur.k0 + o < a.k;
    const uint4 z = make_uint4(0, 0, 0, 0);
    r.va[0] = in ? __ldg((const uint4*)(cur.va + o)) : z;
    r.va[1] = in ? __ldg((const uint4*)(cur.va + o) + 1) : z;
    r.vb[0] = in ? __ldg((const uint4*)(cur.vb + o)) : z;
    r.vb[1] = in ? __ldg((const uint4*)(cur.vb + o) + 1) : z;
    r.ma = in ? __ldg((const uint2*)(cur.ma + o / 4)) : make_uint2(0, 0);
    r.mb = in ? __ldg((const uint2*)(cur.mb + o / 4)) : make_uint2(0, 0);
  }

  static __device__ __forceinline__ uint32_t word(const uint4& v, int i) {
    return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;
  }

  // Dense elements 0-1 (d[0]) and 2-3 (d[1]) of a group from its value pair and meta byte.
  static __device__ __forceinline__ void expand(uint32_t pair, uint32_t meta_byte, uint32_t (&d)[2]) {
    const uint32_t sel = selector_table()[meta_byte & 15];
    d[0] = __byte_perm(pair, 0, sel & 0xFFFF);
    d[1] = __byte_perm(pair, 0, sel >> 16);
  }

  template <class A, int NB>
  static __device__ __forceinline__ void step(const Args&, const Raw& r, const uint16_t* xrow, int stride, const float*, int, int lane,
                                              float (&acc)[NB][4]) {
    const int q = lane % 4;
    uint4 xv[NB][4];
#pragma unroll
    for (int b = 0; b < NB; ++b)
#pragma unroll
      for (int h = 0; h < 4; ++h) xv[b][h] = *(const uint4*)(xrow + b * 8 * stride + 32 * q + 8 * h);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const uint32_t ma = (i < 4 ? r.ma.x : r.ma.y) >> (8 * (i % 4)), mb = (i < 4 ? r.mb.x : r.mb.y) >> (8 * (i % 4));
      uint32_t da[2], db[2];
      expand(word(r.va[i / 4], i % 4), ma, da);
      expand(word(r.vb[i / 4], i % 4), mb, db);
      const uint32_t f[4] = {da[0], db[0], da[1], db[1]};
#pragma unroll
      for (int b = 0; b < NB; ++b) {
        const uint4& v = xv[b][i / 2];
        A::mma(acc[b], f, i % 2 ? v.z : v.x, i % 2 ? v.w : v.y);
      }
    }
  }
};

}  // namespace cuda
}  // namespace tao
