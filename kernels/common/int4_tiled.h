// The tinygemm int4 tensor-core-tiled layout (see tao.h): where each plain q[n][k] value lives in
// the packed int32 array. Shared by the CPU and CUDA pack / unpack / dequantize kernels.
#pragma once
#include "convert.h"
#include "hd.h"

namespace tao {

// Geometry of one packed weight: k-tiles of 16, n-tiles of 8, T = inner_k_tiles.
struct Int4Tiled {
  int64_t n, k;
  int32_t tiles;        // inner_k_tiles
  int64_t k_outer;      // k / (16 T)
  int64_t words;        // n/8 · k_outer · 32 · T/2
};

// Coordinates of packed word w: row n0 and the k of its nibble 0; nibble s (0..7) holds
// q[n0][k0 + kofs(s)] with kofs = {0, 8, 16, 24, 1, 9, 17, 25}.
TAO_HD void int4_tiled_word(const Int4Tiled& g, int64_t w, int64_t* n0, int64_t* k0) {
  const int64_t half = g.tiles / 2;
  const int64_t j = w % half;
  const int64_t t = (w / half) % 32;
  const int64_t ko = (w / (half * 32)) % g.k_outer;
  const int64_t nt = w / (half * 32 * g.k_outer);
  *n0 = nt * 8 + t / 4;
  *k0 = 16 * (ko * g.tiles + 2 * j) + 2 * (t % 4);
}

TAO_HD int int4_tiled_kofs(int s) { return (s & 3) * 8 + (s >> 2); }

}  // namespace tao

namespace tao {

// Packed word w from plain q (u8, row-major n × k).
TAO_HD uint32_t int4_tiled_pack_word(const Int4Tiled& g, const uint8_t* q, int64_t w) {
  int64_t n0, k0;
  int4_tiled_word(g, w, &n0, &k0);
  const uint8_t* row = q + n0 * g.k + k0;
  uint32_t word = 0;
  for (int s = 0; s < 8; ++s) word |= (uint32_t)(row[int4_tiled_kofs(s)] & 0xF) << (4 * s);
  return word;
}

// Scatters packed word w into plain q.
TAO_HD void int4_tiled_unpack_word(const Int4Tiled& g, uint32_t word, uint8_t* q, int64_t w) {
  int64_t n0, k0;
  int4_tiled_word(g, w, &n0, &k0);
  uint8_t* row = q + n0 * g.k + k0;
  for (int s = 0; s < 8; ++s) row[int4_tiled_kofs(s)] = (uint8_t)((word >> (4 * s)) & 0xF);
}

// Dequantizes packed word w into out (bf16 bits, n × k): bf16(fma(q - 8, scale, zero)), scale and
// zero from sz (bf16 [k / group][n][2]) — the FLOAT zero-point dequantization with mid = 8.
TAO_HD void int4_tiled_dequant_word(const Int4Tiled& g, uint32_t word, const uint16_t* sz, int32_t group,
                                    uint16_t* out, int64_t w) {
  int64_t n0, k0;
  int4_tiled_word(g, w, &n0, &k0);
  for (int s = 0; s < 8; ++s) {
    const int64_t kk = k0 + int4_tiled_kofs(s);
    const uint16_t* p = sz + ((kk / group) * g.n + n0) * 2;
    const float q = (float)((word >> (4 * s)) & 0xF);
    out[n0 * g.k + kk] = f32_to_bf16(fma_f(sub_rn(q, 8.0f), bf16_to_f32(p[0]), bf16_to_f32(p[1])));
  }
}

}  // namespace tao
