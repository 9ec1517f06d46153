// The int4 tinygemm-layout weight policy of the weight-only tensor-core kernels (weight_only_gemm.cuh,
// weight_only_gemv.cuh, weight_wgmma_gemm.cuh): how a warp loads its packed words and (scale, zero)
// words, and how one 128-k step feeds them to the mma.
#pragma once
#include <stdint.h>

#include "mma.cuh"
#include "tma.cuh"

namespace tao {
namespace cuda {

// (The policy has external linkage: the wgmma kernel's instantiation leaves kDepth and kXPadBytes
// unused, which nvcc reports for internal-linkage types.)
namespace int4 {

// tinygemm's packing seen by one warp: output columns col0..col0+15 are n-tiles a = col0/8 and
// b = a + 1; lane t = 4g + q holds, per 32-k span, the packed word of rows 8a + g and 8b + g whose
// nibbles (0, 4), (1, 5) are the A-fragment pairs (k = 2q + {0, 1}, 2q + {8, 9}) of the span's
// first k-tile and (2, 6), (3, 7) those of its second: the layout is mma.m16n8k16's fragments.
// x is staged so that lane q finds its 8 values of a span (k = 2q + {0, 1, 8, 9, 16, 17, 24, 25})
// as one 16-byte vector: the B fragments of both k-tiles.
//
// The nibbles are or-ed into the mantissa of a power of two P (128 for bf16, 1024 for f16: P + q is
// exact). Per quantization group the kernel accumulates R = Σ v·x over the values v the mma gets and
// adds s·R + (z − b·s)·X in f32 with X = Σ x of the group (staged with x), where v = (q − 8) + b:
// Σ ((q − 8)·s + z)·x with the dequantized weight never rounded. f16 centers v to q − 8 (b = 0, P + 8
// subtracted in f16, exact: one fma per pair); bf16 feeds P + q as it is (b = 136), which saves
// that fma: the f32 sum then carries b·X, whose cancellation costs about 2^-23·143·s·Σ|x| ≈
// 2^-18·Σ|x·w|, far under a bf16 ulp (f16's b = 1032 was seen 12 f16 ulps off on an H100).
struct Int4TiledArgs {
  const uint32_t* packed;
  const uint32_t* sz;  // (scale | zero << 16) bf16 pairs, [k / group][n]
  int64_t n, k_outer;
  int32_t group_shift;  // log2(group)
  int32_t gs_shift;     // log2(min(group, 128)): k per group within a step
  int32_t groups;       // groups in a step: 128 >> gs_shift
  int32_t last_group;   // k / group - 1
  int32_t ends;         // bit j: a group ends with span j of a step (0xF, 0xA or 0x8)
};

// The arguments of an n × k weight packed with k_outer blocks of k per n-tile, groups of `group`.
inline Int4TiledArgs int4_tiled_args(const void* packed, const void* sz, int64_t n, int64_t k, int64_t k_outer, int64_t group) {
  const int group_shift = __builtin_ctz((unsigned)group), gs_shift = group_shift < 7 ? group_shift : 7;
  return {(const uint32_t*)packed, (const uint32_t*)sz, n, k_outer, group_shift, gs_shift, 128 >> gs_shift, (int32_t)(k / group - 1),
          gs_shift == 5 ? 0xF : gs_shift == 6 ? 0xA : 0x8};
}

// G is the group size when known at compile time (the mma kernel instantiates each), or 0 to read it
// from Args at run time (the wgmma kernel, whose per-step cost it does not change): with G known, the
// group bookkeeping of a step (which spans end a group, where each (scale, zero) word lives) folds
// into constants and straight-line code.
template <int T, int G>
struct Int4TiledWeights {
  using Args = Int4TiledArgs;
  struct Raw {
    uint32_t wa[4], wb[4];  // words of the step's 4 spans, n-tiles a and b
    uint32_t sa[4], sb[4];  // (scale, zero) of the step's groups (max(1, 128 / group) of them)
  };
  static constexpr int kDepth = 3;
  static constexpr int kXPadBytes = 64;  // staged rows 64 bytes apart mod 128: conflict-free 16-byte reads

  template <class A>
  static __device__ __forceinline__ void block_setup() {}  // no shared tables
  static __device__ __forceinline__ int x_slot(int o) {
    const int oo = o & 31;
    return (o & ~31) + ((oo >> 1) & 3) * 8 + 2 * (oo >> 3) + (oo & 1);
  }
  static __device__ __forceinline__ float col_scale(const Args&, int64_t) { return 1.0f; }

  // log2(group), log2(min(group, 128)), groups per step and the span mask of group ends, from G
  // when it is known.
  static constexpr int kGroupShift = G == 32 ? 5 : G == 64 ? 6 : G == 128 ? 7 : 8;
  static __host__ __device__ __forceinline__ int group_shift(const Args& a) { return G ? kGroupShift : a.group_shift; }
  static __host__ __device__ __forceinline__ int gs_shift(const Args& a) { return G ? (kGroupShift < 7 ? kGroupShift : 7) : a.gs_shift; }
  static __device__ __forceinline__ int groups(const Args& a) { return G ? (G < 128 ? 128 / G : 1) : a.groups; }
  static __device__ __forceinline__ int ends(const Args& a) { return G ? (G == 32 ? 0xF : G == 64 ? 0xA : 0x8) : a.ends; }

  // A warp's packed words and (scale, zero) words at the start of its k-range.
  struct Cursor {
    const uint32_t* wa;  // lane's words of n-tile a at k-outer ko0 (then +128 words per step)
    const uint32_t* wb;
    const uint32_t* sa;  // (scale, zero) of column 8a + g, group 0 (then + n per group)
    const uint32_t* sb;
    int32_t ko0, k_begin;
  };
  static __device__ __forceinline__ Cursor cursor(const Args& a, int64_t col0, int64_t k_begin, int lane) {
    constexpr int per = T / 2;  // words per lane per k-outer block
    const int64_t nta = col0 / 8, ntb = min(nta + 1, a.n / 8 - 1), ko0 = k_begin / (16 * T);
    return Cursor{a.packed + ((nta * a.k_outer + ko0) * 32 + lane) * per, a.packed + ((ntb * a.k_outer + ko0) * 32 + lane) * per,
                  a.sz + nta * 8 + lane / 4, a.sz + ntb * 8 + lane / 4, (int32_t)ko0, (int32_t)k_begin};
  }

  static __device__ __forceinline__ void load(const Args& a, const Cursor& cur, int step, Raw& r) {
    constexpr int per = T / 2;
#pragma unroll
    for (int c = 0; c < 4 / per; ++c) {  // the k-outer blocks of the step (16T words each)
      const int o = step * 128 + c * 16 * T;
      // k % 128 may be 32 or 64 for T < 8: the last step's trailing blocks are zeros.
      const bool in = T == 8 || cur.ko0 + step * (8 / T) + c < a.k_outer;
      if constexpr (per == 4) {
        const uint4 va = __ldg((const uint4*)(cur.wa + o)), vb = __ldg((const uint4*)(cur.wb + o));
        r.wa[0] = va.x, r.wa[1] = va.y, r.wa[2] = va.z, r.wa[3] = va.w;
        r.wb[0] = vb.x, r.wb[1] = vb.y, r.wb[2] = vb.z, r.wb[3] = vb.w;
      } else if constexpr (per == 2) {
        const uint2 va = in ? __ldg((const uint2*)(cur.wa + o)) : make_uint2(0, 0);
        const uint2 vb = in ? __ldg((const uint2*)(cur.wb + o)) : make_uint2(0, 0);
        r.wa[2 * c] = va.x, r.wa[2 * c + 1] = va.y;
        r.wb[2 * c] = vb.x, r.wb[2 * c + 1] = vb.y;
      } else {
        r.wa[c] = in ? __ldg(cur.wa + o) : 0u;
        r.wb[c] = in ? __ldg(cur.wb + o) : 0u;
      }
    }
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      if (i >= groups(a)) break;
      const uint32_t gi = min((cur.k_begin + step * 128 + (i << gs_shift(a))) >> group_shift(a), a.last_group);
      const uint64_t off = (uint64_t)gi * (uint32_t)a.n;
      r.sa[i] = __ldg(cur.sa + off);
      r.sb[i] = __ldg(cur.sb + off);
    }
  }

  // Staged by the bulk tensor copy engine (the wgmma kernel, weight_wgmma_gemm.cuh): a step of 16
  // n-tiles (128 output columns) × 128 k is 16 rows of 128 packed words — an n-tile's row of the
  // packed tensor holds its words in k order, 128 per step — and a.groups rows of 128 (scale, zero)
  // words, both copied as boxes of 2-D tensor maps, zeros past n and k.
  static constexpr int kStagedWordBytes = 16 * 128 * 4;
  static constexpr int kStagedGroupBytes = 4 * 128 * 4;  // room for 4 groups a step (group 32)
  static __host__ __device__ uint32_t staged_bytes(const Args& a) { return kStagedWordBytes + (uint32_t)a.groups * 128 * 4; }
  // The tensor maps of the packed words ([n / 8] rows of k_outer · 16T words) and of the (scale,
  // zero) words ([k / group] rows of n words): host side; returns a CUDA error code and what failed.
  static CUresult staged_maps(const Args& a, CUtensorMap* word_map, CUtensorMap* group_map, const char** what) {
    const uint64_t row_words = (uint64_t)a.k_outer * 16 * T;
    const CUresult e = tma::encode_2d(word_map, CU_TENSOR_MAP_DATA_TYPE_UINT32, a.packed, (uint64_t)a.n / 8, row_words, row_words * 4, 16, 128,
                                      CU_TENSOR_MAP_SWIZZLE_NONE, what);
    if (e != CUDA_SUCCESS) return e;
    return tma::encode_2d(group_map, CU_TENSOR_MAP_DATA_TYPE_UINT32, a.sz, (uint64_t)a.last_group + 1, (uint64_t)a.n, (uint64_t)a.n * 4,
                          (uint32_t)a.groups, 128, CU_TENSOR_MAP_SWIZZLE_NONE, what);
  }
  // Copies the step at k0 (a multiple of 128) of the 128 columns from c0 (a multiple of 128) into
  // dst_words and dst_groups (shared addresses), completing `bar`'s transaction bytes.
  static __device__ __forceinline__ void copy_staged(const Args& a, const CUtensorMap* word_map, const CUtensorMap* group_map, int64_t k0,
                                                     int64_t c0, uint32_t dst_words, uint32_t dst_groups, uint32_t bar) {
    tma::load_2d(dst_words, word_map, (int32_t)k0, (int32_t)(c0 / 8), bar);
    tma::load_2d(dst_groups, group_map, (int32_t)c0, (int32_t)(k0 >> group_shift(a)), bar);
  }
  // The lane's words of warp w's two n-tiles (2w, 2w + 1) and their (scale, zero) words from a staged step.
  static __device__ __forceinline__ void staged(const Args& a, const uint32_t* word_tile, const uint32_t* group_tile, int w, int lane, Raw& r) {
    constexpr int per = T / 2;  // words per lane per k-outer block of 16T k
    const uint32_t* wa = word_tile + 2 * w * 128 + lane * per;
#pragma unroll
    for (int c = 0; c < 4 / per; ++c) {  // the step's k-outer blocks, 32·per words apart
      if constexpr (per == 4) {
        const uint4 va = *(const uint4*)wa, vb = *(const uint4*)(wa + 128);
        r.wa[0] = va.x, r.wa[1] = va.y, r.wa[2] = va.z, r.wa[3] = va.w;
        r.wb[0] = vb.x, r.wb[1] = vb.y, r.wb[2] = vb.z, r.wb[3] = vb.w;
      } else if constexpr (per == 2) {
        const uint2 va = *(const uint2*)(wa + 64 * c), vb = *(const uint2*)(wa + 128 + 64 * c);
        r.wa[2 * c] = va.x, r.wa[2 * c + 1] = va.y;
        r.wb[2 * c] = vb.x, r.wb[2 * c + 1] = vb.y;
      } else {
        r.wa[c] = wa[32 * c];
        r.wb[c] = wa[128 + 32 * c];
      }
    }
    const uint32_t* g = group_tile + 16 * w + lane / 4;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      if (i >= groups(a)) break;
      r.sa[i] = g[128 * i];
      r.sb[i] = g[128 * i + 8];
    }
  }

  // Nibbles h and h + 4 of w as the pair (P + q_h, P + q_{h+4}): a shift and one lop3.
  template <class A>
  static __device__ __forceinline__ uint32_t biased_nibbles(uint32_t w, int h) {
    uint32_t d;
    asm("lop3.b32 %0, %1, %2, %3, 0xEA;\n" : "=r"(d) : "r"(w >> (4 * h)), "n"(0x000F000F), "n"(A::kNibbleBase));
    return d;  // (a & b) | c
  }
  // Nibbles h and h + 4 of w as the pair (q_h - 8, q_{h+4} - 8): one fma more.
  template <class A>
  static __device__ __forceinline__ uint32_t nibbles(uint32_t w, int h) {
    return A::centered(biased_nibbles<A>(w, h));  // - P - 8
  }
  // What the mma step feeds: (q − 8) + A::kMmaNibbleBias (bf16: P + q as it is; f16: centered).
  template <class A>
  static __device__ __forceinline__ uint32_t mma_nibbles(uint32_t w, int h) {
    return A::kMmaNibbleBias != 0.0f ? biased_nibbles<A>(w, h) : nibbles<A>(w, h);
  }
  // The (scale, zero) word of span j's group.
  static __device__ __forceinline__ uint32_t group_word(const uint32_t (&v)[4], int gs, int j) {
    return gs == 5 ? v[j] : gs == 6 ? v[j >> 1] : v[0];
  }

  // The A fragment of k-tile t of span j, each weight tinygemm's bf16 value (q − 8)·s + z from one
  // bf16 fma (rounded once), then rounded to f16 for f16 x.
  template <class A>
  static __device__ __forceinline__ void fragment(const Args& a, const Raw& r, int j, int t, uint32_t (&f)[4]) {
    const uint32_t pa = group_word(r.sa, gs_shift(a), j), pb = group_word(r.sb, gs_shift(a), j);
    const uint32_t sa = __byte_perm(pa, 0, 0x1010), za = __byte_perm(pa, 0, 0x3232);  // (s, s), (z, z)
    const uint32_t sb = __byte_perm(pb, 0, 0x1010), zb = __byte_perm(pb, 0, 0x3232);
    f[0] = A::from_bf16_pair(Act<TAO_BF16>::fma2(nibbles<Act<TAO_BF16>>(r.wa[j], 2 * t), sa, za));
    f[1] = A::from_bf16_pair(Act<TAO_BF16>::fma2(nibbles<Act<TAO_BF16>>(r.wb[j], 2 * t), sb, zb));
    f[2] = A::from_bf16_pair(Act<TAO_BF16>::fma2(nibbles<Act<TAO_BF16>>(r.wa[j], 2 * t + 1), sa, za));
    f[3] = A::from_bf16_pair(Act<TAO_BF16>::fma2(nibbles<Act<TAO_BF16>>(r.wb[j], 2 * t + 1), sb, zb));
  }

  // Σx per group is staged with x when the raw nibbles are used (m <= 16).
  static __host__ __device__ __forceinline__ int sum_shift(const Args& a) { return gs_shift(a); }

  template <class A, int NB>
  static __device__ __forceinline__ void step(const Args& a, const Raw& r, const uint16_t* xrow, int stride, const float* xsum,
                                              int xsum_stride, int lane, float (&acc)[NB][4]) {
    const int q = lane % 4, gs = gs_shift(a), group_ends = ends(a);
    float sum_qx[NB][2][4] = {};  // two chains (k-tiles 0 and 1 of each span)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      uint4 xv[NB];
#pragma unroll
      for (int b = 0; b < NB; ++b) xv[b] = *(const uint4*)(xrow + b * 8 * stride + 32 * j + 8 * q);
      const uint32_t pa = group_word(r.sa, gs, j), pb = group_word(r.sb, gs, j);
#pragma unroll
      for (int t = 0; t < 2; ++t) {
        const uint32_t f[4] = {mma_nibbles<A>(r.wa[j], 2 * t), mma_nibbles<A>(r.wb[j], 2 * t),
                               mma_nibbles<A>(r.wa[j], 2 * t + 1), mma_nibbles<A>(r.wb[j], 2 * t + 1)};
#pragma unroll
        for (int b = 0; b < NB; ++b) A::mma(sum_qx[b][t], f, t ? xv[b].z : xv[b].x, t ? xv[b].w : xv[b].y);
      }
      if (!((group_ends >> j) & 1)) continue;  // the group goes on
      const float sa = __uint_as_float(pa << 16), sb = __uint_as_float(pb << 16);
      // z − bias·s: the bias the mma summed, Σ bias·x, comes back out with the zero point's X.
      const float za = fmaf(-A::kMmaNibbleBias, sa, __uint_as_float(pa & 0xFFFF0000u));
      const float zb = fmaf(-A::kMmaNibbleBias, sb, __uint_as_float(pb & 0xFFFF0000u));
      const int chunk = (32 * j) >> gs;
#pragma unroll
      for (int b = 0; b < NB; ++b) {
        const float x0 = xsum[(8 * b + 2 * q) * xsum_stride + chunk], x1 = xsum[(8 * b + 2 * q + 1) * xsum_stride + chunk];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          acc[b][e] += (e < 2 ? sa : sb) * (sum_qx[b][0][e] + sum_qx[b][1][e]) + (e < 2 ? za : zb) * (e % 2 ? x1 : x0);
          sum_qx[b][0][e] = sum_qx[b][1][e] = 0.0f;
        }
      }
    }
  }
};

}  // namespace int4

}  // namespace cuda
}  // namespace tao
