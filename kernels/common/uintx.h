// uintx (1- to 7-bit unsigned) weights: the packing of tao_uintx_pack (include/tao.h documents it),
// the dequantization of one value, and the op structs and backend entry points of the uintx ops.
// Shared by the CPU and CUDA backends, so both read and write the same bits.
//
// A weight [n, k] is cut into tiles of 32 rows × 128 k (rows and k zero-padded to whole tiles). A
// tile is what one warp of the CUDA fused kernel reads with `bits` coalesced 16-byte loads: lane l
// (g = l / 4, t = l % 4) holds 4 chunks, chunk h being 32 values of row g + 8h, so the lane's values
// are exactly its fragments of mma.m16n8k16 (two 16-row halves, rows g, g + 8 and g + 16, g + 24).
// A chunk of 32 values is `bits` 32-bit words: values 0..15 in the low 16-bit halves, 16..31 in the
// high halves, the same arrangement in both, so one shift-and-mask yields a pair (v[i], v[16 + i]).
// Within the halves: each holds f = 16 / bits whole fields (value h·f + j at bits j·bits of half h);
// the 16 − f·bits values left over (bits 3, 5, 6, 7) are spread over the spare top bits of the halves,
// read as one bit stream (half 0's spare bits first, each half's lowest first).
#pragma once
#include <stdint.h>

#include "backend.h"
#include "convert.h"
#include "dtype_switch.h"
#include "hd.h"
#include "tao.h"

namespace tao {

constexpr int64_t kUxTileRows = 32;  // rows per tile
constexpr int64_t kUxTileK = 128;    // k per tile
constexpr int kUxChunks = 4;         // chunks per lane per tile
constexpr int kUxLanes = 32;

// Sizes of a packed [n, k] weight of `bits`-bit values.
struct UxGeometry {
  int64_t n, k;
  int64_t row_blocks;  // ceil(n / 32)
  int64_t k_tiles;     // ceil(k / 128)
  int bits;
};

TAO_HD UxGeometry ux_geometry(int64_t n, int64_t k, int bits) {
  return UxGeometry{n, k, (n + kUxTileRows - 1) / kUxTileRows, (k + kUxTileK - 1) / kUxTileK, bits};
}

// Bytes of the packed weight: 512·bits per tile.
TAO_HD uint64_t ux_packed_bytes(int64_t n, int64_t k, int bits) {
  const UxGeometry g = ux_geometry(n, k, bits);
  return (uint64_t)(g.row_blocks * g.k_tiles) * 512u * (uint64_t)bits;
}

// Chunks of a packed weight (one per lane and h of every tile); chunk c = (tile·32 + lane)·4 + h
// with tile = row_block·k_tiles + k_tile.
TAO_HD uint64_t ux_chunks(const UxGeometry& g) { return (uint64_t)(g.row_blocks * g.k_tiles) * kUxLanes * kUxChunks; }

// Where bit t of value i (< 16) of a chunk's half lies: its word (0..bits-1) and its bit within the
// 16-bit half. Constant expressions, so the CUDA kernel's decoding folds them.
constexpr int ux_word_of(int bits, int i, int t) {
  const int f = 16 / bits, fields = f * bits;
  return i < fields ? i / f : ((i - fields) * bits + t) / (16 - fields);
}
constexpr int ux_bit_of(int bits, int i, int t) {
  const int f = 16 / bits, fields = f * bits;
  return i < fields ? (i % f) * bits + t : fields + ((i - fields) * bits + t) % (16 - fields);
}

// Where bit `t` of value `v` (0..31) of a chunk lies: word (0..bits-1) and bit (0..31).
TAO_HD void ux_bit(int bits, int v, int t, int* word, int* bit) {
  *word = ux_word_of(bits, v & 15, t);
  *bit = (v >> 4) * 16 + ux_bit_of(bits, v & 15, t);
}

// Index (in 32-bit words from the start of the packed weight) of word `t` of chunk `c`: lane l's
// words w = h·bits + t of a tile sit in its 16-byte unit w / 4 of that tile, units lane-interleaved
// (unit u of lane l at u·32 + l), so a warp's load of unit u is 512 contiguous bytes.
TAO_HD uint64_t ux_word_index(int bits, uint64_t c, int t) {
  const uint64_t tile = c / (kUxLanes * kUxChunks);
  const int lane = (int)(c / kUxChunks % kUxLanes), w = (int)(c % kUxChunks) * bits + t;
  return tile * (uint64_t)(kUxLanes * kUxChunks * bits) + (uint64_t)(((w >> 2) * kUxLanes + lane) * 4 + (w & 3));
}

// Column within its tile of value v of a chunk of lane 4g + t: pair i = v % 16 is mma step i / 2
// (k 16·(i / 2)), fragment register i % 2 (k + 2), thread t's 4 consecutive k (k + 4t), low or high
// half (k + v / 16).
TAO_HD int ux_tile_col(int t, int v) { return 16 * ((v & 15) >> 1) + 4 * t + 2 * (v & 1) + (v >> 4); }

// Row and column of value v of chunk c (they may lie in the padding, outside [n, k]): lane l = 4g + t,
// chunk h: row 32·row_block + g + 8h, column ux_tile_col(t, v) of its tile.
TAO_HD void ux_position(const UxGeometry& g, uint64_t c, int v, int64_t* row, int64_t* col) {
  const uint64_t tile = c / (kUxLanes * kUxChunks);
  const int lane = (int)(c / kUxChunks % kUxLanes), h = (int)(c % kUxChunks);
  *row = (int64_t)(tile / g.k_tiles) * kUxTileRows + (lane >> 2) + 8 * h;
  *col = (int64_t)(tile % g.k_tiles) * kUxTileK + ux_tile_col(lane & 3, v);
}

// Value v of a chunk whose `Bits` words are w (fields by one shift, spread values bit by bit).
template <int Bits>
TAO_HD uint32_t ux_value(const uint32_t* w, int v) {
  constexpr int f = 16 / Bits, fields = f * Bits;
  const int i = v & 15;
  if (i < fields) return (w[i / f] >> ((v >> 4) * 16 + (i % f) * Bits)) & ((1u << Bits) - 1u);
  uint32_t q = 0;
  for (int t = 0; t < Bits; ++t) {
    int word, bit;
    ux_bit(Bits, v, t, &word, &bit);
    q |= ((w[word] >> bit) & 1u) << t;
  }
  return q;
}

// The `Bits` words of chunk c.
template <int Bits>
TAO_HD void ux_load_chunk(const uint8_t* packed, uint64_t c, uint32_t* w) {
  for (int t = 0; t < Bits; ++t) w[t] = ((const uint32_t*)packed)[ux_word_index(Bits, c, t)];
}

// Chunk c of the packing of values q u8 [n, k] (only their low bits): its words into `packed`.
TAO_HD void ux_pack_chunk(const UxGeometry& g, const uint8_t* q, uint64_t c, uint32_t* packed) {
  uint32_t w[7] = {};
  for (int v = 0; v < 32; ++v) {
    int64_t row, col;
    ux_position(g, c, v, &row, &col);
    const uint32_t value = row < g.n && col < g.k ? q[row * g.k + col] : 0u;
    for (int t = 0; t < g.bits; ++t) {
      int word, bit;
      ux_bit(g.bits, v, t, &word, &bit);
      w[word] |= ((value >> t) & 1u) << bit;
    }
  }
  for (int t = 0; t < g.bits; ++t) packed[ux_word_index(g.bits, c, t)] = w[t];
}

// The weight of value q in a group with scale s and zero point z (bf16 values read as f32):
// INT domain (q − z)·s (q − z exact), FLOAT domain fma(q − 2^(bits−1), s, z), one rounding each.
TAO_HD float ux_dequant(uint32_t q, float s, float z, int domain, int bits) {
  if (domain == TAO_ZERO_POINT_INT) return mul_rn(sub_rn((float)q, z), s);
  return fma_f(sub_rn((float)q, (float)(1 << (bits - 1))), s, z);
}

// A packed uintx weight [n, k] (include/tao.h, tao_uintx_pack) with its group parameters.
struct UintxWeight {
  const uint8_t* packed;  // ux_packed_bytes(n, k, bits)
  const uint16_t* scale;  // bf16 [n, k / group] (dequantize / linear only)
  const uint16_t* zero;   // bf16 [n, k / group]
  int64_t n, k;
  int bits, group, domain;
};

// One tao_uintx_pack / tao_uintx_unpack / tao_dequantize_uintx call after validation.
enum class UintxOp { Pack, Unpack, Dequantize };
struct UintxCall {
  UintxWeight w;  // Pack: w.packed is the output
  uint8_t* q;     // Pack: input values u8 [n, k]; Unpack: output
  void* out;      // Dequantize: [n, k] of `dtype`
  int dtype;
};

// Chunk ch of c.w: its values into c.q (D = TAO_U8: unpack) or its weights into c.out (dtype D:
// dequantize), skipping the padding.
template <int B, int D>
TAO_HD void ux_chunk_out(const UintxCall& c, uint64_t ch) {
  const UxGeometry g = ux_geometry(c.w.n, c.w.k, B);
  uint32_t w[B];
  ux_load_chunk<B>(c.w.packed, ch, w);
  for (int v = 0; v < 32; ++v) {
    int64_t row, col;
    ux_position(g, ch, v, &row, &col);
    if (row >= g.n || col >= g.k) continue;
    const uint32_t q = ux_value<B>(w, v);
    if constexpr (D == TAO_U8) {
      c.q[row * g.k + col] = (uint8_t)q;
    } else {
      const int64_t p = row * (g.k / c.w.group) + col / c.w.group;
      const float s = bf16_to_f32(c.w.scale[p]), z = bf16_to_f32(c.w.zero[p]);
      ((typename Dt<D>::T*)c.out)[row * g.k + col] = Dt<D>::from_f32(ux_dequant(q, s, z, c.w.domain, B));
    }
  }
}

// One tao_linear_uintx call after validation.
using UintxLinearCall = PackedLinearCall<UintxWeight>;

namespace cpu {
tao_status uintx(UintxOp op, const UintxCall& c);
tao_status uintx_linear(const UintxLinearCall& c);
}  // namespace cpu

#ifdef TAO_WITH_CUDA
namespace cuda {
tao_status uintx(tao_ctx* ctx, UintxOp op, const UintxCall& c);
tao_status uintx_linear(tao_ctx* ctx, const UintxLinearCall& c);
}  // namespace cuda
#endif

}  // namespace tao

// Runs body with `constexpr int B_` = bits (1..7).
#define TAO_SWITCH_UX_BITS(bits, B_, ...) \
  switch (bits) {                         \
    TAO_DT_CASE(B_, 1, __VA_ARGS__)       \
    TAO_DT_CASE(B_, 2, __VA_ARGS__)       \
    TAO_DT_CASE(B_, 3, __VA_ARGS__)       \
    TAO_DT_CASE(B_, 4, __VA_ARGS__)       \
    TAO_DT_CASE(B_, 5, __VA_ARGS__)       \
    TAO_DT_CASE(B_, 6, __VA_ARGS__)       \
    TAO_DT_CASE(B_, 7, __VA_ARGS__)       \
    default: break;                       \
  }
