// CPU NF4 ops (include/tao.h): quantize, pack, unpack and dequantize loop over 64-weight blocks in
// parallel; linear runs panel_linear (panel_gemm.h) with panels decoded from the packed nibbles to f32,
// so the products are x · f32(code · scale) summed in f32.
#include "../common/backend.h"
#include "../common/convert.h"
#include "../common/dtype_switch.h"
#include "panel_gemm.h"

namespace tao {
namespace cpu {

namespace {

constexpr float kCode[16] = {TAO_NF4_CODES};
static_assert(kPanelK % kNf4Block == 0, "panels must start on NF4 block boundaries");

// dst[t] = the weight of block b (64 values at flat element 64·b), decoded to f32.
TAO_INLINE void decode_block(const Nf4Weight& w, int64_t b, float* dst) {
  const float s = nf4_block_scale(w.qscale[b], w.scale2[b / kNf4ScaleGroup], w.offset[b / kNf4ScaleGroup]);
  const uint8_t* p = w.packed + b * (kNf4Block / 2);
  for (int t = 0; t < kNf4Block / 2; ++t) {
    dst[2 * t] = mul_rn(kCode[p[t] >> 4], s);
    dst[2 * t + 1] = mul_rn(kCode[p[t] & 15], s);
  }
}

template <int D>
TAO_CPU_CLONES void quantize_blocks(const Nf4Call& c, uint64_t b0, uint64_t b1) {
  const auto* src = (const typename Dt<D>::T*)c.src;
  for (uint64_t b = b0; b < b1; ++b) c.absmax[b] = nf4_quantize_block<D>(src + b * kNf4Block, kCode, c.codes + b * kNf4Block);
}

template <int D>
TAO_CPU_CLONES void dequantize_blocks(const Nf4Call& c, uint64_t b0, uint64_t b1) {
  auto* out = (typename Dt<D>::T*)c.out;
  float buf[kNf4Block];
  for (uint64_t b = b0; b < b1; ++b) {
    decode_block(c.w, (int64_t)b, buf);
    for (int t = 0; t < kNf4Block; ++t) out[b * kNf4Block + t] = Dt<D>::from_f32(buf[t]);
  }
}

void pack(const Nf4Call& c) {
  const Nf4Weight& w = c.w;
  const int64_t blocks = w.n * w.k / kNf4Block, groups = (blocks + kNf4ScaleGroup - 1) / kNf4ScaleGroup;
  parallel_for((uint64_t)groups, 16, [&](uint64_t g0, uint64_t g1) {
    for (uint64_t g = g0; g < g1; ++g) {
      const int64_t b0 = (int64_t)g * kNf4ScaleGroup, b1 = std::min(blocks, b0 + kNf4ScaleGroup);
      nf4_double_quantize(c.absmax, b0, b1, (int8_t*)w.qscale, (float*)w.scale2 + g, (float*)w.offset + g);
    }
  });
  parallel_for((uint64_t)(w.n * w.k / 2), 1 << 16, [&](uint64_t j0, uint64_t j1) {
    for (uint64_t j = j0; j < j1; ++j) ((uint8_t*)w.packed)[j] = (uint8_t)((c.codes[2 * j] & 15) << 4 | (c.codes[2 * j + 1] & 15));
  });
}

void unpack(const Nf4Call& c) {
  const Nf4Weight& w = c.w;
  parallel_for((uint64_t)(w.n * w.k / kNf4Block), 256, [&](uint64_t b0, uint64_t b1) {
    for (uint64_t b = b0; b < b1; ++b) {
      c.absmax[b] = nf4_block_scale(w.qscale[b], w.scale2[b / kNf4ScaleGroup], w.offset[b / kNf4ScaleGroup]);
      const uint8_t* p = w.packed + b * (kNf4Block / 2);
      for (int t = 0; t < kNf4Block / 2; ++t) {
        c.codes[b * kNf4Block + 2 * t] = p[t] >> 4;
        c.codes[b * kNf4Block + 2 * t + 1] = p[t] & 15;
      }
    }
  });
}

template <int D>
TAO_CPU_CLONES void widen_rows(const Nf4LinearCall& c, int64_t r0, int64_t r1, float* dst) {
  const auto* x = (const typename Dt<D>::T*)c.x;
  for (int64_t i = r0 * c.w.k; i < r1 * c.w.k; ++i) dst[i - r0 * c.w.k] = Dt<D>::to_f32(x[i]);
}

template <int D>
void linear_as(const Nf4LinearCall& c) {
  using T = typename Dt<D>::T;
  const int64_t k = c.w.k, kb = k / kNf4Block;
  const T* bias = (const T*)c.bias;
  T* y = (T*)c.y;
  panel_linear(
      c.m, c.w.n, k, [&](int64_t r0, int64_t r1, float* dst) { widen_rows<D>(c, r0, r1, dst); },
      [&](int64_t j0, int64_t nb, int64_t k0, int64_t kl, float* dst) {
        for (int64_t j = 0; j < nb; ++j)
          for (int64_t t = 0; t < kl; t += kNf4Block) decode_block(c.w, (j0 + j) * kb + (k0 + t) / kNf4Block, dst + j * kl + t);
      },
      [&](int64_t i, int64_t j0, int64_t nb, const float* acc) {
        for (int64_t j = 0; j < nb; ++j)
          y[i * c.w.n + j0 + j] = Dt<D>::from_f32(bias ? add_rn(acc[j], Dt<D>::to_f32(bias[j0 + j])) : acc[j]);
      });
}

}  // namespace

tao_status nf4(Nf4Op op, const Nf4Call& c) {
  const uint64_t blocks = (uint64_t)(c.w.n * c.w.k / kNf4Block);
  switch (op) {
    case Nf4Op::Quantize:
      TAO_SWITCH_WIDE_FLOAT(c.dtype, D, parallel_for(blocks, 256, [&](uint64_t b0, uint64_t b1) { quantize_blocks<D>(c, b0, b1); }));
      break;
    case Nf4Op::Pack: pack(c); break;
    case Nf4Op::Unpack: unpack(c); break;
    case Nf4Op::Dequantize:
      TAO_SWITCH_WIDE_FLOAT(c.dtype, D, parallel_for(blocks, 256, [&](uint64_t b0, uint64_t b1) { dequantize_blocks<D>(c, b0, b1); }));
      break;
  }
  return TAO_OK;
}

tao_status nf4_linear(const Nf4LinearCall& c) {
  TAO_SWITCH_WIDE_FLOAT(c.dtype, D, linear_as<D>(c));
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
