// CPU tao_linear_int4_tensor_core_tiled: y = x · Wᵀ (+ bias) for a tinygemm-packed int4 W, through
// panel_linear (panel_gemm.h): W is dequantized into small f32 panels, never whole.
//
// Panel k order. In the packed layout, row n's words for k block ko (16·T values of k) are 2T
// consecutive words; word u = kq·(T/2) + j holds k = 16T·ko + 32j + 2kq + kofs(nibble), so slice j
// (32 consecutive k, inside one scale group) is words j, j + T/2, j + T, j + 3T/2. A panel lists
// each slice as 16 weights (word q/4, nibble q%4) then 16 (word q/4, nibble 4 + q%4), which takes
// one word shuffle, one shift and one table permute per vector of weights; x is widened in the
// same permuted order, so the dot products are unchanged.
#include "../common/backend.h"
#include "../common/convert.h"
#include "../common/int4_tiled.h"
#include "panel_gemm.h"
#include "simd.h"

namespace tao {
namespace cpu {

namespace {

// k offset inside a 32-wide slice of the weight at panel position q (q < 32): word kq = q%16 / 4,
// nibble q%4 + 4·(q / 16).
int panel_kofs(int q) { return 2 * (q % 16 / 4) + int4_tiled_kofs(q % 4 + 4 * (q / 16)); }

// dst[(r - r0)·k + k0 + q] = x[r][k0 + perm[q]] as f32 for each 32-wide slice k0, rows [r0, r1).
template <int D>
TAO_INLINE void widen_rows(const void* x, int64_t k, int64_t r0, int64_t r1, const int32_t* perm, float* dst) {
  const auto* src = (const typename Dt<D>::T*)x;
  for (int64_t r = r0; r < r1; ++r)
    for (int64_t k0 = 0; k0 < k; k0 += 32, dst += 32)
      for (int q = 0; q < 32; ++q) dst[q] = Dt<D>::to_f32(src[r * k + k0 + perm[q]]);
}

TAO_CPU_CLONES void widen_rows_permuted(const Int4LinearCall& c, int64_t r0, int64_t r1, const int32_t* perm,
                                        float* dst) {
  if (c.dtype == TAO_F16) widen_rows<TAO_F16>(c.x, c.g.k, r0, r1, perm, dst);
  else widen_rows<TAO_BF16>(c.x, c.g.k, r0, r1, perm, dst);
}

// tab[q] for each lane's nibble q = idx & 15 (higher bits ignored); tab is 16 values in 16 / W vectors.
template <int W>
TAO_INLINE typename Lanes<W>::F lookup16(const typename Lanes<W>::F* tab, const typename Lanes<W>::I& idx) {
  if constexpr (W == 16) {
    return __builtin_shuffle(tab[0], idx);  // shuffle indices are taken mod W
  } else {
    return (idx & 8) != 0 ? __builtin_shuffle(tab[1], idx) : __builtin_shuffle(tab[0], idx);
  }
}

// Panel rows j0..j0+nb over k [k0, k0 + kl), in panel order: each weight (q - 8) · s + z with one
// f32 fma (not rounded to the activation dtype). T = inner_k_tiles, W = lanes. The 16 possible values of each (row,
// group) are computed once into a table that the nibbles index (one permute per W weights). The
// packed words are read in memory order (per 8-row tile: k block, then row), so W streams in.
template <int W, int T>
TAO_INLINE void dequant_panel(const Int4LinearCall& c, int64_t j0, int64_t nb, int64_t k0, int64_t kl, float* dst) {
  using F = typename Lanes<W>::F;
  using I = typename Lanes<W>::I;
  using U = typename Lanes<W>::U;
  constexpr int half = T / 2, B = 16 * T, NV = 16 / W;  // NV vectors per 16 weights
  const int64_t slices = kl / 32, groups = kl / c.group;
  const int gshift = __builtin_ctz((unsigned)c.group) - 5;  // slice -> group
  U shift;
  F qm8[NV];
  for (int l = 0; l < W; ++l) shift[l] = 4 * (l % 4);
  for (int v = 0; v < NV; ++v)
    for (int l = 0; l < W; ++l) qm8[v][l] = (float)(v * W + l - 8);
  for (int64_t t0 = j0; t0 < j0 + nb; t0 += 8) {
    F table[8][kPanelK / 32][NV];  // per row of the tile and group
    for (int64_t g = 0; g < groups; ++g) {
      const uint16_t* p = (const uint16_t*)c.sz + ((k0 / c.group + g) * c.g.n + t0) * 2;
      for (int rr = 0; rr < 8; ++rr)
        for (int v = 0; v < NV; ++v) {
          table[rr][g][v] = vfma<W>(qm8[v], vsplat<W>(bf16_to_f32(p[2 * rr])), vsplat<W>(bf16_to_f32(p[2 * rr + 1])));
        }
    }
    const int64_t first = (t0 / 8 * c.g.k_outer + k0 / B) * 16 * T;  // word offset of this tile's k block
    const uint32_t* block = (const uint32_t*)c.packed + first;
    for (int64_t i = 0; i < slices; i += half, block += 16 * T) {
      // W is read once: prefetch 2 KB ahead in the packed stream (the next panel continues there)
      if (first + (i / half) * 16 * T + 512 + 16 * T <= c.g.words)
        for (int l = 0; l < 64 * T; l += 64) __builtin_prefetch((const char*)block + 2048 + l);
      for (int rr = 0; rr < 8; ++rr) {
        U seg[(2 * T + W - 1) / W] = {};  // this row's 2T words
        memcpy(seg, block + rr * 2 * T, 2 * T * sizeof(uint32_t));
        float* out = dst + (t0 - j0 + rr) * kl + 32 * i;
        for (int j = 0; j < half; ++j, out += 32) {
          const F* tab = table[rr][(i + j) >> gshift];
          for (int v = 0; v < NV; ++v) {  // words kq = v·W/4 + l/4 of slice j, lo then hi nibbles
            const int base = v * (W / 4) * half;
            I pick;
            for (int l = 0; l < W; ++l) pick[l] = base % W + l / 4 * half + j;
            const U w = __builtin_shuffle(seg[base / W], (U)pick);
            vstore<W>(out + v * W, lookup16<W>(tab, (I)(w >> shift)));
            vstore<W>(out + 16 + v * W, lookup16<W>(tab, (I)(w >> (shift + 16u))));
          }
        }
      }
    }
  }
}

template <int W>
TAO_INLINE void dequant_panel_w(const Int4LinearCall& c, int64_t j0, int64_t nb, int64_t k0, int64_t kl, float* dst) {
  switch (c.g.tiles) {
    case 2: dequant_panel<W, 2>(c, j0, nb, k0, kl, dst); break;
    case 4: dequant_panel<W, 4>(c, j0, nb, k0, kl, dst); break;
    default: dequant_panel<W, 8>(c, j0, nb, k0, kl, dst); break;
  }
}

TAO_CPU_CLONES void dequant_panel_any(const Int4LinearCall& c, int64_t j0, int64_t nb, int64_t k0, int64_t kl,
                                      float* dst) {
  if (simd_width() == 16) dequant_panel_w<16>(c, j0, nb, k0, kl, dst);
  else dequant_panel_w<8>(c, j0, nb, k0, kl, dst);
}

template <int D>
void linear_as(const Int4LinearCall& c) {
  using T = typename Dt<D>::T;
  int32_t perm[32];
  for (int q = 0; q < 32; ++q) perm[q] = panel_kofs(q);
  const T* bias = (const T*)c.bias;
  T* y = (T*)c.y;
  panel_linear(
      c.m, c.g.n, c.g.k,
      [&](int64_t r0, int64_t r1, float* dst) { widen_rows_permuted(c, r0, r1, perm, dst); },
      [&](int64_t j0, int64_t nb, int64_t k0, int64_t kl, float* dst) { dequant_panel_any(c, j0, nb, k0, kl, dst); },
      [&](int64_t i, int64_t j0, int64_t nb, const float* acc) {
        for (int64_t j = 0; j < nb; ++j)
          y[i * c.g.n + j0 + j] = Dt<D>::from_f32(bias ? add_rn(acc[j], Dt<D>::to_f32(bias[j0 + j])) : acc[j]);
      });
}

}  // namespace

tao_status int4_tiled_linear(const Int4LinearCall& c) {
  if (c.dtype == TAO_F16) linear_as<TAO_F16>(c);
  else linear_as<TAO_BF16>(c);
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
