// CPU uintx ops (include/tao.h): pack, unpack and dequantize loop over chunks (32 values, `bits`
// words; kernels/common/uintx.h) in parallel; linear runs panel_linear (panel_gemm.h) with panels
// decoded from the packed chunks to f32 (ux_dequant, the weight tao_dequantize_uintx gives in f32), so
// the products are x · w summed in f32.
#include <algorithm>

#include "../common/convert.h"
#include "../common/dtype_switch.h"
#include "../common/uintx.h"
#include "panel_gemm.h"
#include "simd.h"

namespace tao {
namespace cpu {

namespace {

static_assert(kPanelK % kUxTileK == 0, "panels must hold whole tiles along k");

template <int B, int D>
TAO_CPU_CLONES void chunks_out(const UintxCall& c, uint64_t c0, uint64_t c1) {
  for (uint64_t ch = c0; ch < c1; ++ch) ux_chunk_out<B, D>(c, ch);
}

template <int D>
TAO_CPU_CLONES void widen_rows(const UintxLinearCall& c, int64_t kp, int64_t r0, int64_t r1, float* dst) {
  const auto* x = (const typename Dt<D>::T*)c.x;
  const int64_t k = c.w.k;
  for (int64_t r = r0; r < r1; ++r) {
    float* d = dst + (r - r0) * kp;
    for (int64_t t = 0; t < k; ++t) d[t] = Dt<D>::to_f32(x[r * k + t]);
    std::fill(d + k, d + kp, 0.0f);
  }
}

// dst[t] = the weight of `row` at k = 128·kt + t for t < 128 (0 past k).
template <int B>
TAO_CPU_CLONES void decode_row_tile(const UintxWeight& wt, const UxGeometry& g, int64_t row, int64_t kt, float* dst) {
  const uint64_t tile = (uint64_t)((row / kUxTileRows) * g.k_tiles + kt);
  const int in_block = (int)(row % kUxTileRows), h = in_block / 8;
  uint8_t q[kUxTileK];
  for (int t = 0; t < 4; ++t) {  // lanes 4·(row % 8) + t hold this row's 4 chunks
    const uint64_t ch = (tile * kUxLanes + 4 * (in_block % 8) + t) * kUxChunks + h;
    uint32_t w[B];
    ux_load_chunk<B>(wt.packed, ch, w);
#pragma GCC unroll 32
    for (int v = 0; v < 32; ++v) q[ux_tile_col(t, v)] = (uint8_t)ux_value<B>(w, v);
  }
  const int64_t k0 = kt * kUxTileK, valid = std::min<int64_t>(kUxTileK, g.k - k0), groups = g.k / wt.group;
  for (int64_t t0 = 0; t0 < valid; t0 += wt.group) {  // k0 and the group size are multiples of 32
    const int64_t p = row * groups + (k0 + t0) / wt.group, len = std::min<int64_t>(wt.group, valid - t0);
    const float s = bf16_to_f32(wt.scale[p]), z = bf16_to_f32(wt.zero[p]);
    for (int64_t t = t0; t < t0 + len; ++t) dst[t] = ux_dequant(q[t], s, z, wt.domain, B);
  }
  std::fill(dst + valid, dst + kUxTileK, 0.0f);
}

template <int D, int B>
void linear_as(const UintxLinearCall& c) {
  using T = typename Dt<D>::T;
  const UxGeometry g = ux_geometry(c.w.n, c.w.k, B);
  const int64_t kp = g.k_tiles * kUxTileK;
  const T* bias = (const T*)c.bias;
  T* y = (T*)c.y;
  panel_linear(
      c.m, c.w.n, kp, [&](int64_t r0, int64_t r1, float* dst) { widen_rows<D>(c, kp, r0, r1, dst); },
      [&](int64_t j0, int64_t nb, int64_t k0, int64_t kl, float* dst) {
        for (int64_t j = 0; j < nb; ++j)
          for (int64_t t = 0; t < kl; t += kUxTileK) decode_row_tile<B>(c.w, g, j0 + j, (k0 + t) / kUxTileK, dst + j * kl + t);
      },
      [&](int64_t i, int64_t j0, int64_t nb, const float* acc) {
        for (int64_t j = 0; j < nb; ++j)
          y[i * c.w.n + j0 + j] = Dt<D>::from_f32(bias ? add_rn(acc[j], Dt<D>::to_f32(bias[j0 + j])) : acc[j]);
      });
}

}  // namespace

tao_status uintx(UintxOp op, const UintxCall& c) {
  const uint64_t chunks = ux_chunks(ux_geometry(c.w.n, c.w.k, c.w.bits));
  if (op == UintxOp::Pack) {
    const UxGeometry g = ux_geometry(c.w.n, c.w.k, c.w.bits);
    parallel_for(chunks, 256, [&](uint64_t c0, uint64_t c1) {
      for (uint64_t ch = c0; ch < c1; ++ch) ux_pack_chunk(g, c.q, ch, (uint32_t*)c.w.packed);
    });
  } else if (op == UintxOp::Unpack) {
    TAO_SWITCH_UX_BITS(c.w.bits, B, parallel_for(chunks, 256, [&](uint64_t c0, uint64_t c1) { chunks_out<B, TAO_U8>(c, c0, c1); }));
  } else {
    TAO_SWITCH_UX_BITS(c.w.bits, B,
                       TAO_SWITCH_WIDE_FLOAT(c.dtype, D, parallel_for(chunks, 256, [&](uint64_t c0, uint64_t c1) { chunks_out<B, D>(c, c0, c1); })));
  }
  return TAO_OK;
}

tao_status uintx_linear(const UintxLinearCall& c) {
  TAO_SWITCH_UX_BITS(c.w.bits, B, TAO_SWITCH_WIDE_FLOAT(c.dtype, D, linear_as<D, B>(c)));
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
