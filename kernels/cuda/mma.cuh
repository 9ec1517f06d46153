// Tensor-core and packed-half helpers of the weight-only kernels: mma.m16n8k16 for bf16 and f16,
// and the exact conversions of small integers to half pairs.
#pragma once
#include <stdint.h>

#include "../common/convert.h"
#include "tao.h"

namespace tao {
namespace cuda {

// One activation dtype: its mma, its packed fma and the magic numbers that turn 4-bit and 8-bit
// integers into exact half values. A register "pair" holds two halves, the lower k in the low 16 bits.
template <int Dtype>
struct Act;

template <>
struct Act<TAO_BF16> {
  // D += A·B, m16n8k16, row.col, f32 accumulators.
  static __device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
  // Nibbles (0..15) or-ed into 128.0 give 128 + q exactly; centered() takes them to q - 8, exactly.
  static constexpr uint32_t kNibbleBase = 0x43004300u;
  // The weight-only mma step feeds 128 + q = (q − 8) + 136 uncentered (int4_linear.cu says why).
  static constexpr float kMmaNibbleBias = 136.0f;
  static __device__ __forceinline__ uint32_t centered(uint32_t biased) { return fma2(biased, 0x3F803F80u, 0xC308C308u); }  // · 1 − 136
  // Bytes 2h and 2h + 1 of an int8 word as an exact pair (2^23 + 128 + q read as f32, minus 2^23 + 128).
  static __device__ __forceinline__ uint32_t int8_pair(uint32_t biased, int h) {
    const float lo = __uint_as_float(__byte_perm(biased, 0x4B000000u, 0x7440 + 2 * h)) - 8388736.0f;
    const float hi = __uint_as_float(__byte_perm(biased, 0x4B000000u, 0x7441 + 2 * h)) - 8388736.0f;
    uint32_t d;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(d) : "f"(hi), "f"(lo));
    return d;
  }
  // a·b + c per lane, rounded once.
  static __device__ __forceinline__ uint32_t fma2(uint32_t a, uint32_t b, uint32_t c) {
    uint32_t d;
    asm("fma.rn.bf16x2 %0, %1, %2, %3;\n" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
  }
  // A bf16 pair as this dtype's pair (rounded).
  static __device__ __forceinline__ uint32_t from_bf16_pair(uint32_t v) { return v; }
  static __device__ __forceinline__ float to_f32(uint16_t v) { return bf16_to_f32(v); }
  static __device__ __forceinline__ uint16_t from_f32(float v) { return f32_to_bf16(v); }
};

template <>
struct Act<TAO_F16> {
  static __device__ __forceinline__ void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
  // a·b + c per lane, rounded once.
  static __device__ __forceinline__ uint32_t fma2(uint32_t a, uint32_t b, uint32_t c) {
    uint32_t d;
    asm("fma.rn.f16x2 %0, %1, %2, %3;\n" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
  }
  static constexpr uint32_t kOne = 0x3C003C00u;
  // 1024 + q exactly; centered() takes it to q - 8, exactly.
  static constexpr uint32_t kNibbleBase = 0x64006400u;
  static constexpr float kMmaNibbleBias = 0.0f;  // centered: an uncentered 1032 cancels in f16
  static __device__ __forceinline__ uint32_t centered(uint32_t biased) { return fma2(biased, kOne, 0xE408E408u); }  // · 1 − 1032
  // 1024 + 128 + q or-ed from the biased byte, minus 1152: exact.
  static __device__ __forceinline__ uint32_t int8_pair(uint32_t biased, int h) {
    return fma2(__byte_perm(biased, 0x64646464u, 0x5140 + 0x0202 * h), kOne, 0xE480E480u);
  }
  static __device__ __forceinline__ uint32_t from_bf16_pair(uint32_t v) {
    uint32_t d;
    asm("cvt.rn.f16x2.f32 %0, %1, %2;\n" : "=r"(d) : "f"(__uint_as_float(v & 0xFFFF0000u)), "f"(__uint_as_float(v << 16)));
    return d;
  }
  static __device__ __forceinline__ float to_f32(uint16_t v) { return f16_to_f32(v); }
  static __device__ __forceinline__ uint16_t from_f32(float v) { return f32_to_f16(v); }
};

}  // namespace cuda
}  // namespace tao
