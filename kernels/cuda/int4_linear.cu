// CUDA y = x · Wᵀ (+ bias) for an int4 W in tinygemm's tensor-core-tiled layout, bf16 or f16 x.
//  - small m: the weight-only tensor-core kernel (weight_only_gemm.cuh) with the policy below,
//    which takes the packed words into the mma as they are (weights exact, never rounded);
//  - from m = 17 or 33 (by weight size) to 511 or 64 on Hopper (sm_90a builds): the wgmma kernel
//    (weight_wgmma_gemm.cuh, which states the bounds), the policy's fragments dequantized in registers
//    to tinygemm's bf16 value (one bf16 fma, rounded once; then f16 for f16 x);
//  - larger m, or m > 32 elsewhere: W is dequantized to that same value into a scratch buffer and the
//    product runs in cuBLASLt (bench/NOTES.md has the measurements behind the thresholds).
#include "../common/backend.h"
#include "weight_only_gemm.cuh"
#include "weight_wgmma_gemm.cuh"

namespace tao {
namespace cuda {

namespace {

// tinygemm's packing seen by one warp: output columns col0..col0+15 are n-tiles a = col0/8 and
// b = a + 1; lane t = 4g + q holds, per 32-k span, the packed word of rows 8a + g and 8b + g whose
// nibbles (0, 4), (1, 5) are the A-fragment pairs (k = 2q + {0, 1}, 2q + {8, 9}) of the span's
// first k-tile and (2, 6), (3, 7) those of its second: the layout is mma.m16n8k16's fragments.
// x is staged so that lane q finds its 8 values of a span (k = 2q + {0, 1, 8, 9, 16, 17, 24, 25})
// as one 16-byte vector: the B fragments of both k-tiles.
//
// The nibbles enter the mma as q − 8, exactly: or-ed into the mantissa of a power of two P (128
// for bf16, 1024 for f16: P + q is exact), then P + 8 subtracted in the half type (exact too),
// three instructions per pair. Per quantization group the kernel accumulates R = Σ (q − 8)·x and
// adds s·R + z·X in f32 with X = Σ x of the group (staged with x): Σ ((q − 8)·s + z)·x with the
// dequantized weight never rounded. (Leaving P + 8 in and taking (P + 8)·s·X back at the group's
// end saves an instruction but cancels: seen 12 f16 ulps off on an H100.)
template <int T>
struct Int4TiledWeights {
  struct Args {
    const uint32_t* packed;
    const uint32_t* sz;  // (scale | zero << 16) bf16 pairs, [k / group][n]
    int64_t n, k_outer;
    int32_t group_shift;  // log2(group)
    int32_t gs_shift;     // log2(min(group, 128)): k per group within a step
    int32_t groups;       // groups in a step: 128 >> gs_shift
    int32_t last_group;   // k / group - 1
    int32_t ends;         // bit j: a group ends with span j of a step (0xF, 0xA or 0x8)
  };
  struct Raw {
    uint32_t wa[4], wb[4];  // words of the step's 4 spans, n-tiles a and b
    uint32_t sa[4], sb[4];  // (scale, zero) of the step's groups (max(1, 128 / group) of them)
  };
  static constexpr int kDepth = 3;
  static constexpr int kXPadBytes = 64;  // staged rows 64 bytes apart mod 128: conflict-free 16-byte reads

  static __device__ __forceinline__ int x_slot(int o) {
    const int oo = o & 31;
    return (o & ~31) + ((oo >> 1) & 3) * 8 + 2 * (oo >> 3) + (oo & 1);
  }
  static __device__ __forceinline__ float col_scale(const Args&, int64_t) { return 1.0f; }

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
      if (i >= a.groups) break;
      const uint32_t gi = min((cur.k_begin + step * 128 + (i << a.gs_shift)) >> a.group_shift, a.last_group);
      const uint64_t off = (uint64_t)gi * (uint32_t)a.n;
      r.sa[i] = __ldg(cur.sa + off);
      r.sb[i] = __ldg(cur.sb + off);
    }
  }

  // Nibbles h and h + 4 of w as the pair (q_h - 8, q_{h+4} - 8): a shift, one lop3, one fma.
  template <class A>
  static __device__ __forceinline__ uint32_t nibbles(uint32_t w, int h) {
    uint32_t d;
    asm("lop3.b32 %0, %1, %2, %3, 0xEA;\n" : "=r"(d) : "r"(w >> (4 * h)), "n"(0x000F000F), "n"(A::kNibbleBase));
    return A::centered(d);  // ((a & b) | c) - P - 8
  }
  // The (scale, zero) word of span j's group.
  static __device__ __forceinline__ uint32_t group_word(const uint32_t (&v)[4], int gs_shift, int j) {
    return gs_shift == 5 ? v[j] : gs_shift == 6 ? v[j >> 1] : v[0];
  }

  // The A fragment of k-tile t of span j, each weight tinygemm's bf16 value (q − 8)·s + z from one
  // bf16 fma (rounded once), then rounded to f16 for f16 x.
  template <class A>
  static __device__ __forceinline__ void fragment(const Args& a, const Raw& r, int j, int t, uint32_t (&f)[4]) {
    const uint32_t pa = group_word(r.sa, a.gs_shift, j), pb = group_word(r.sb, a.gs_shift, j);
    const uint32_t sa = __byte_perm(pa, 0, 0x1010), za = __byte_perm(pa, 0, 0x3232);  // (s, s), (z, z)
    const uint32_t sb = __byte_perm(pb, 0, 0x1010), zb = __byte_perm(pb, 0, 0x3232);
    f[0] = A::from_bf16_pair(Act<TAO_BF16>::fma2(nibbles<Act<TAO_BF16>>(r.wa[j], 2 * t), sa, za));
    f[1] = A::from_bf16_pair(Act<TAO_BF16>::fma2(nibbles<Act<TAO_BF16>>(r.wb[j], 2 * t), sb, zb));
    f[2] = A::from_bf16_pair(Act<TAO_BF16>::fma2(nibbles<Act<TAO_BF16>>(r.wa[j], 2 * t + 1), sa, za));
    f[3] = A::from_bf16_pair(Act<TAO_BF16>::fma2(nibbles<Act<TAO_BF16>>(r.wb[j], 2 * t + 1), sb, zb));
  }

  // Σx per group is staged with x when the raw nibbles are used (m <= 16).
  static __device__ __forceinline__ int sum_shift(const Args& a) { return a.gs_shift; }

  template <class A, int NB>
  static __device__ __forceinline__ void step(const Args& a, const Raw& r, const uint16_t* xrow, int stride, const float* xsum,
                                              int xsum_stride, int lane, float (&acc)[NB][4]) {
    const int q = lane % 4, ends = a.ends;
    float sum_qx[NB][2][4] = {};  // two chains (k-tiles 0 and 1 of each span)
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      uint4 xv[NB];
#pragma unroll
      for (int b = 0; b < NB; ++b) xv[b] = *(const uint4*)(xrow + b * 8 * stride + 32 * j + 8 * q);
      const uint32_t pa = group_word(r.sa, a.gs_shift, j), pb = group_word(r.sb, a.gs_shift, j);
#pragma unroll
      for (int t = 0; t < 2; ++t) {
        const uint32_t f[4] = {nibbles<A>(r.wa[j], 2 * t), nibbles<A>(r.wb[j], 2 * t), nibbles<A>(r.wa[j], 2 * t + 1),
                               nibbles<A>(r.wb[j], 2 * t + 1)};
#pragma unroll
        for (int b = 0; b < NB; ++b) A::mma(sum_qx[b][t], f, t ? xv[b].z : xv[b].x, t ? xv[b].w : xv[b].y);
      }
      if (!((ends >> j) & 1)) continue;  // the group goes on
      const float sa = __uint_as_float(pa << 16), sb = __uint_as_float(pb << 16);
      const float za = __uint_as_float(pa & 0xFFFF0000u), zb = __uint_as_float(pb & 0xFFFF0000u);
      const int chunk = (32 * j) >> a.gs_shift;
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

template <int T, int Dtype>
tao_status fused(tao_ctx* ctx, const Int4LinearCall& c, bool wgmma, const char* op) {
  const int group_shift = __builtin_ctz((unsigned)c.group), gs_shift = group_shift < 7 ? group_shift : 7;
  const typename Int4TiledWeights<T>::Args a{(const uint32_t*)c.packed, (const uint32_t*)c.sz, c.g.n, c.g.k_outer, group_shift, gs_shift,
                                             128 >> gs_shift, (int32_t)(c.g.k / c.group - 1),
                                             gs_shift == 5 ? 0xF : gs_shift == 6 ? 0xA : 0x8};
  const wo::Shape s{c.m, c.g.n, c.g.k, 0, 0, 0, c.x, c.bias, c.y, nullptr, nullptr};
  if (wgmma) return wg::launch<Int4TiledWeights<T>, Dtype>(ctx, a, s, op);
  return wo::launch<Int4TiledWeights<T>, Act<Dtype>>(ctx, a, s, op);
}

template <int Dtype>
tao_status fused_tiles(tao_ctx* ctx, const Int4LinearCall& c, bool wgmma, const char* op) {
  if (c.g.tiles == 2) return fused<2, Dtype>(ctx, c, wgmma, op);
  if (c.g.tiles == 4) return fused<4, Dtype>(ctx, c, wgmma, op);
  return fused<8, Dtype>(ctx, c, wgmma, op);
}

// W dequantized (bf16, then cast for f16) into a scratch buffer, then cuBLASLt.
tao_status dequantize_then_gemm(tao_ctx* ctx, const Int4LinearCall& c) {
  const uint64_t elems = (uint64_t)c.g.n * c.g.k;
  void* w = nullptr;
  TAO_TRY(alloc(ctx, elems * 2, &w));
  tao_status s = int4_tiled(ctx, Int4Op::Dequantize, Int4TiledCall{c.g, c.packed, w, c.sz, c.group});
  if (s == TAO_OK && c.dtype == TAO_F16) s = cast(ctx, w, TAO_BF16, w, TAO_F16, elems);
  if (s == TAO_OK) s = linear(ctx, LinearCall{c.x, w, c.bias, c.y, c.dtype, c.m, c.g.n, c.g.k});
  const tao_status fs = release(ctx, w);
  return s != TAO_OK ? s : fs;
}

}  // namespace

tao_status int4_tiled_linear(tao_ctx* ctx, const Int4LinearCall& c) {
  const char* op = "tao_linear_int4_tensor_core_tiled";
  const bool wgmma = c.m >= wg::wgmma_from_m(c.g.n, c.g.k) && c.m < wg::wgmma_until_m(c.g.n, c.g.k) &&
                     wg::wgmma_usable(ctx, c.x, c.y, c.m, c.g.n, c.g.k);
  if (!wgmma && c.m >= wo::dense_from_m()) return dequantize_then_gemm(ctx, c);
  return c.dtype == TAO_F16 ? fused_tiles<TAO_F16>(ctx, c, wgmma, op) : fused_tiles<TAO_BF16>(ctx, c, wgmma, op);
}

}  // namespace cuda
}  // namespace tao
