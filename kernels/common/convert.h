// Scalar dtype conversions, bit-exact and identical on host and device.
//   f32 -> f16 / bf16: round to nearest even, overflow to inf, NaN stays NaN (quiet).
//   f32 -> float8: round to nearest even, saturating (finite overflow and inf -> max finite),
//                  NaN -> S.1111111 (torchao's to_fp8_saturated semantics).
//   float -> integer: truncate toward zero, saturate to the type's range, NaN -> 0.
// `Dt<TAO_X>` maps a dtype code to its storage type and to/from-f32 conversions, so kernels are
// templates over dtype codes.
#pragma once
#include "hd.h"
#include "tao.h"

namespace tao {

TAO_HD uint16_t f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

TAO_HD float bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

TAO_HD uint16_t f32_to_f16(float f) {
  uint32_t x = f32_bits(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
  if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);  // >= 65520 rounds to inf
  if (ax < 0x38800000u) {                                     // below 2^-14: subnormal
    // value = n * 2^-24; scaling by 2^24 is exact, rint rounds half to even.
    uint32_t n = (uint32_t)rint_f(mul_rn(bits_f32(ax), 16777216.0f));
    return (uint16_t)(sign | n);
  }
  ax += 0xfffu + ((ax >> 13) & 1u);
  ax -= (uint32_t)(127 - 15) << 23;
  return (uint16_t)(sign | (ax >> 13));
}

TAO_HD float f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0x1f) return bits_f32(sign | 0x7f800000u | (m << 13));
  if (e == 0) return bits_f32(sign | f32_bits(mul_rn((float)m, 5.9604644775390625e-8f)));
  return bits_f32(sign | ((e + 112u) << 23) | (m << 13));
}

// Float8 with M mantissa bits and exponent bias B; MaxCode is the largest finite code (sign off).
// Both the normal and the subnormal rounding are computed and one is selected (no branches, so it
// vectorizes on the CPU and does not diverge on the GPU).
template <int M, int B, uint32_t MaxCode>
TAO_HD uint8_t f32_to_f8(float f) {
  const uint32_t x = f32_bits(f);
  const uint32_t sign = (x >> 24) & 0x80u;
  const uint32_t ax = x & 0x7fffffffu;
  const uint32_t min_normal = (uint32_t)(1 - B + 127) << 23;  // 2^(1-B)
  // Normal: round the f32 mantissa to M bits (half to even), rebias, saturate (inf included).
  const uint32_t shift = 23 - M;
  const uint32_t r = ax + ((1u << (shift - 1)) - 1u) + ((ax >> shift) & 1u);
  uint32_t normal = (r >> shift) - ((uint32_t)(127 - B) << M);
  normal = normal > MaxCode ? MaxCode : normal;
  // Subnormal: n = rint(|f| / 2^(1-B-M)), exact scaling; n == 2^M encodes the min normal.
  const float inv_quantum = bits_f32((uint32_t)(B + M - 1 + 127) << 23);
  const float small = bits_f32(ax < min_normal ? ax : min_normal);
  const uint32_t sub = (uint32_t)rint_f(mul_rn(small, inv_quantum));
  const uint32_t code = ax > 0x7f800000u ? 0x7fu : (ax < min_normal ? sub : normal);
  return (uint8_t)(sign | code);
}

// Float8 -> f32 without branches on the value: the 7 magnitude bits are placed at the top of an
// f32 mantissa/exponent and the exponent bias is fixed by one exact multiply by 2^(127-B) (f32
// denormal inputs make the float8 subnormals come out right). NaN (and inf for e5m2) by select.
template <int M, int B, bool HasInf>
TAO_HD float f8_to_f32(uint8_t v) {
  const uint32_t sign = (uint32_t)(v & 0x80u) << 24;
  const uint32_t mag = v & 0x7fu;
  const float rebias = bits_f32((uint32_t)(127 - B + 127) << 23);  // 2^(127-B): 2^120 / 2^112
  float f = mul_rn(bits_f32(mag << (23 - M)), rebias);
  if (HasInf) {
    if (mag >= 0x7cu) f = bits_f32(mag == 0x7cu ? 0x7f800000u : 0x7fc00000u);
  } else if (mag == 0x7fu) {
    f = bits_f32(0x7fc00000u);
  }
  return bits_f32(sign | f32_bits(f));
}

TAO_HD uint8_t f32_to_e4m3(float f) { return f32_to_f8<3, 7, 0x7eu>(f); }
TAO_HD uint8_t f32_to_e5m2(float f) { return f32_to_f8<2, 15, 0x7bu>(f); }
TAO_HD float e4m3_to_f32(uint8_t v) { return f8_to_f32<3, 7, false>(v); }
TAO_HD float e5m2_to_f32(uint8_t v) { return f8_to_f32<2, 15, true>(v); }

// Float -> integer: truncate toward zero, saturate at [lo, hi], NaN -> 0.
TAO_HD int32_t f32_to_int_sat(float f, int32_t lo, int32_t hi) {
  if (f != f) return 0;
  if (f <= (float)lo) return lo;
  if (f >= (float)hi) return hi;
  return (int32_t)f;
}

template <int DT>
struct Dt;

template <>
struct Dt<TAO_F32> {
  using T = float;
  static constexpr bool is_float = true;
  TAO_HD static float to_f32(T v) { return v; }
  TAO_HD static T from_f32(float f) { return f; }
};
template <>
struct Dt<TAO_F16> {
  using T = uint16_t;
  static constexpr bool is_float = true;
  TAO_HD static float to_f32(T v) { return f16_to_f32(v); }
  TAO_HD static T from_f32(float f) { return f32_to_f16(f); }
};
template <>
struct Dt<TAO_BF16> {
  using T = uint16_t;
  static constexpr bool is_float = true;
  TAO_HD static float to_f32(T v) { return bf16_to_f32(v); }
  TAO_HD static T from_f32(float f) { return f32_to_bf16(f); }
};
template <>
struct Dt<TAO_F8E4M3FN> {
  using T = uint8_t;
  static constexpr bool is_float = true;
  TAO_HD static float to_f32(T v) { return e4m3_to_f32(v); }
  TAO_HD static T from_f32(float f) { return f32_to_e4m3(f); }
};
template <>
struct Dt<TAO_F8E5M2> {
  using T = uint8_t;
  static constexpr bool is_float = true;
  TAO_HD static float to_f32(T v) { return e5m2_to_f32(v); }
  TAO_HD static T from_f32(float f) { return f32_to_e5m2(f); }
};
template <>
struct Dt<TAO_I8> {
  using T = int8_t;
  static constexpr bool is_float = false;
  static constexpr int64_t lo = -128, hi = 127;
  TAO_HD static float to_f32(T v) { return (float)v; }
  TAO_HD static T from_f32(float f) { return (T)f32_to_int_sat(f, -128, 127); }
};
template <>
struct Dt<TAO_U8> {
  using T = uint8_t;
  static constexpr bool is_float = false;
  static constexpr int64_t lo = 0, hi = 255;
  TAO_HD static float to_f32(T v) { return (float)v; }
  TAO_HD static T from_f32(float f) { return (T)f32_to_int_sat(f, 0, 255); }
};
template <>
struct Dt<TAO_I32> {
  using T = int32_t;
  static constexpr bool is_float = false;
  static constexpr int64_t lo = -2147483648LL, hi = 2147483647LL;
  TAO_HD static float to_f32(T v) { return (float)v; }
  TAO_HD static T from_f32(float f) {
    return f32_to_int_sat(f, (int32_t)(-2147483647 - 1), 2147483647);
  }
};

// An int32 as f32 rounded to odd (truncate, then set the last bit if anything was cut off).
// Rounding that f32 to a format of at most 11 significant bits then equals rounding the integer
// once (f32's 24 bits >= 2 * 11 + 2), which a plain RNE conversion to f32 first would not give.
TAO_HD float i32_to_f32_round_odd(int32_t v) {
  const uint32_t a = v < 0 ? 0u - (uint32_t)v : (uint32_t)v;
  if (a < (1u << 24)) return (float)v;
  int shift = 0;
  while ((a >> shift) >= (1u << 24)) ++shift;
  const uint32_t m = (a >> shift) | ((a & ((1u << shift) - 1u)) != 0u);
  const float f = mul_rn((float)m, (float)(1u << shift));
  return v < 0 ? -f : f;
}

// One element of tao_cast: integer -> integer saturates exactly; integer -> float rounds once;
// float -> anything goes through f32 (exact for every float source).
template <int S, int D>
TAO_HD typename Dt<D>::T cast_value(typename Dt<S>::T v) {
  if constexpr (!Dt<S>::is_float && !Dt<D>::is_float) {
    int64_t x = (int64_t)v;
    x = x < Dt<D>::lo ? Dt<D>::lo : (x > Dt<D>::hi ? Dt<D>::hi : x);
    return (typename Dt<D>::T)x;
  } else if constexpr (S == TAO_I32 && D != TAO_F32) {
    return Dt<D>::from_f32(i32_to_f32_round_odd(v));
  } else {
    return Dt<D>::from_f32(Dt<S>::to_f32(v));
  }
}

// Runtime-dtype scalar load/store through f32 (for per-block parameters, not hot element loops).
TAO_HD float load_as_f32(const void* p, int dtype, uint64_t i) {
  switch (dtype) {
    case TAO_F32: return ((const float*)p)[i];
    case TAO_F16: return f16_to_f32(((const uint16_t*)p)[i]);
    case TAO_BF16: return bf16_to_f32(((const uint16_t*)p)[i]);
    case TAO_F8E4M3FN: return e4m3_to_f32(((const uint8_t*)p)[i]);
    case TAO_F8E5M2: return e5m2_to_f32(((const uint8_t*)p)[i]);
    case TAO_I8: return (float)((const int8_t*)p)[i];
    case TAO_U8: return (float)((const uint8_t*)p)[i];
    default: return (float)((const int32_t*)p)[i];
  }
}

TAO_HD void store_from_f32(void* p, int dtype, uint64_t i, float v) {
  switch (dtype) {
    case TAO_F32: ((float*)p)[i] = v; break;
    case TAO_F16: ((uint16_t*)p)[i] = f32_to_f16(v); break;
    case TAO_BF16: ((uint16_t*)p)[i] = f32_to_bf16(v); break;
    case TAO_F8E4M3FN: ((uint8_t*)p)[i] = f32_to_e4m3(v); break;
    case TAO_F8E5M2: ((uint8_t*)p)[i] = f32_to_e5m2(v); break;
    case TAO_I8: ((int8_t*)p)[i] = Dt<TAO_I8>::from_f32(v); break;
    case TAO_U8: ((uint8_t*)p)[i] = Dt<TAO_U8>::from_f32(v); break;
    default: ((int32_t*)p)[i] = Dt<TAO_I32>::from_f32(v); break;
  }
}

}  // namespace tao
