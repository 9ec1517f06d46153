// CUDA y = x · Wᵀ (+ bias) for an int4 W in tinygemm's tensor-core-tiled layout, bf16 or f16 x.
//  - m below the dense threshold: the weight-only tensor-core kernel (weight_only_gemm.cuh) with
//    the policy below, which dequantizes the packed words in registers;
//  - from the threshold on (compute-bound sizes): W is dequantized into a scratch buffer and the
//    product runs in cuBLASLt (bench/NOTES.md has the measurements behind the threshold).
#include <stdlib.h>

#include "../common/backend.h"
#include "weight_only_gemm.cuh"

namespace tao {
namespace cuda {

namespace {

// tinygemm's packing seen by one warp: output columns col0..col0+15 are n-tiles a = col0/8 and
// b = a + 1; lane t = 4g + q holds, per 32-k span, the packed word of rows 8a + g and 8b + g whose
// nibbles (0, 4), (1, 5) are the A-fragment pairs (k = 2q + {0, 1}, 2q + {8, 9}) of the span's
// first k-tile and (2, 6), (3, 7) those of its second: the layout is mma.m16n8k16's fragments.
// x is staged so that lane q finds its 8 values of a span (k = 2q + {0, 1, 8, 9, 16, 17, 24, 25})
// as one 16-byte vector: the B fragments of both k-tiles.
template <int T>
struct Int4TiledWeights {
  struct Args {
    const uint32_t* packed;
    const uint32_t* sz;  // (scale | zero << 16) bf16 pairs, [k / group][n]
    int64_t n, k_outer;
    int32_t group;
  };
  struct Raw {
    uint32_t wa[4], wb[4];  // words of the step's 4 spans, n-tiles a and b
    uint32_t sa[4], sb[4];  // (scale, zero) of the step's groups (max(1, 128 / group) of them)
  };
  static constexpr int kDepth = 2;
  static constexpr int kXPadBytes = 64;  // staged rows 64 bytes apart mod 128: conflict-free 16-byte reads

  static __device__ __forceinline__ int x_slot(int o) {
    const int oo = o & 31;
    return (o & ~31) + ((oo >> 1) & 3) * 8 + 2 * (oo >> 3) + (oo & 1);
  }
  static __device__ __forceinline__ float col_scale(const Args&, int64_t) { return 1.0f; }
  static __device__ __forceinline__ int groups_per_step(const Args& a) { return a.group >= wo::kStepK ? 1 : wo::kStepK / a.group; }

  static __device__ __forceinline__ void load(const Args& a, int64_t col0, int64_t kstep, int lane, Raw& r) {
    const int64_t nta = col0 / 8, ntb = min(nta + 1, a.n / 8 - 1);
    constexpr int per = T / 2;  // words per lane per k-outer step
#pragma unroll
    for (int c = 0; c < 4 / per; ++c) {
      const int64_t ko = kstep / (16 * T) + c;
      const bool in = ko < a.k_outer;
      const uint32_t* pa = a.packed + ((nta * a.k_outer + ko) * 32 + lane) * per;
      const uint32_t* pb = a.packed + ((ntb * a.k_outer + ko) * 32 + lane) * per;
      if constexpr (per == 4) {
        const uint4 va = in ? __ldg((const uint4*)pa) : make_uint4(0, 0, 0, 0);
        const uint4 vb = in ? __ldg((const uint4*)pb) : make_uint4(0, 0, 0, 0);
        r.wa[0] = va.x, r.wa[1] = va.y, r.wa[2] = va.z, r.wa[3] = va.w;
        r.wb[0] = vb.x, r.wb[1] = vb.y, r.wb[2] = vb.z, r.wb[3] = vb.w;
      } else if constexpr (per == 2) {
        const uint2 va = in ? __ldg((const uint2*)pa) : make_uint2(0, 0);
        const uint2 vb = in ? __ldg((const uint2*)pb) : make_uint2(0, 0);
        r.wa[2 * c] = va.x, r.wa[2 * c + 1] = va.y;
        r.wb[2 * c] = vb.x, r.wb[2 * c + 1] = vb.y;
      } else {
        r.wa[c] = in ? __ldg(pa) : 0u;
        r.wb[c] = in ? __ldg(pb) : 0u;
      }
    }
    const int gps = groups_per_step(a), g = lane / 4;
    const int64_t last = a.k_outer * 16 * T - 1;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      if (i >= gps) break;
      const int64_t gi = min(kstep + i * (int64_t)a.group, last) / a.group;
      r.sa[i] = __ldg(a.sz + gi * a.n + nta * 8 + g);
      r.sb[i] = __ldg(a.sz + gi * a.n + ntb * 8 + g);
    }
  }

  // q - 8 for nibbles h and h + 4 of w, exact, then (q - 8)·s + z rounded once: one pair of A.
  template <class A>
  static __device__ __forceinline__ uint32_t dequant(uint32_t w, int h, uint32_t s2, uint32_t z2) {
    const uint32_t biased = ((w >> (4 * h)) & 0x000F000Fu) | A::kNibbleBase;
    return A::fma2(A::fma2(biased, A::kOne, A::kNibbleBias), s2, z2);
  }

  static __device__ __forceinline__ uint32_t pick(const uint32_t (&v)[4], int gps, int j) {
    return gps >= 4 ? v[j] : gps == 2 ? v[j >> 1] : v[0];
  }

  template <class A, int NB>
  static __device__ __forceinline__ void step(const Args& a, const Raw& r, int64_t, int64_t, const uint16_t* xrow, int stride,
                                              int lane, float (&acc)[NB][4]) {
    const int q = lane % 4, gps = groups_per_step(a);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      uint32_t s2a, z2a, s2b, z2b;
      A::scale_zero(pick(r.sa, gps, j), &s2a, &z2a);
      A::scale_zero(pick(r.sb, gps, j), &s2b, &z2b);
      uint4 xv[NB];
#pragma unroll
      for (int b = 0; b < NB; ++b) xv[b] = *(const uint4*)(xrow + b * 8 * stride + 32 * j + 8 * q);
#pragma unroll
      for (int t = 0; t < 2; ++t) {
        const uint32_t f[4] = {dequant<A>(r.wa[j], 2 * t, s2a, z2a), dequant<A>(r.wb[j], 2 * t, s2b, z2b),
                               dequant<A>(r.wa[j], 2 * t + 1, s2a, z2a), dequant<A>(r.wb[j], 2 * t + 1, s2b, z2b)};
#pragma unroll
        for (int b = 0; b < NB; ++b) A::mma(acc[b], f, t ? xv[b].z : xv[b].x, t ? xv[b].w : xv[b].y);
      }
    }
  }
};

template <int T, int Dtype>
tao_status fused(tao_ctx* ctx, const Int4LinearCall& c, const char* op) {
  const typename Int4TiledWeights<T>::Args a{(const uint32_t*)c.packed, (const uint32_t*)c.sz, c.g.n, c.g.k_outer, c.group};
  const wo::Shape s{c.m, c.g.n, c.g.k, 0, 0, 0, c.x, c.bias, c.y, nullptr, nullptr};
  return wo::launch<Int4TiledWeights<T>, Act<Dtype>>(ctx, a, s, op);
}

template <int Dtype>
tao_status fused_tiles(tao_ctx* ctx, const Int4LinearCall& c, const char* op) {
  if (c.g.tiles == 2) return fused<2, Dtype>(ctx, c, op);
  if (c.g.tiles == 4) return fused<4, Dtype>(ctx, c, op);
  return fused<8, Dtype>(ctx, c, op);
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

// m from which dequantize + cuBLASLt runs: $TAO_INT4_DENSE_FROM_M, else the measured crossover.
int64_t dense_from_m() {
  const char* env = getenv("TAO_INT4_DENSE_FROM_M");
  return env && *env ? atoll(env) : 256;
}

}  // namespace

tao_status int4_tiled_linear(tao_ctx* ctx, const Int4LinearCall& c) {
  const char* op = "tao_linear_int4_tensor_core_tiled";
  if (c.m >= dense_from_m()) return dequantize_then_gemm(ctx, c);
  return c.dtype == TAO_F16 ? fused_tiles<TAO_F16>(ctx, c, op) : fused_tiles<TAO_BF16>(ctx, c, op);
}

}  // namespace cuda
}  // namespace tao
