// Host/device helpers shared by the CPU and CUDA backends: the same source computes the same bits
// on both. Arithmetic that must not be fused into an FMA goes through mul_rn/add_rn/sub_rn/div_rn
// (CUDA intrinsics that the compiler never contracts; host TUs build with -ffp-contract=off).
#pragma once
#include <stdint.h>
#include <string.h>

#if defined(__CUDACC__)
#define TAO_HD __host__ __device__ __forceinline__
#else
#define TAO_HD inline __attribute__((always_inline))
#endif

namespace tao {

TAO_HD uint32_t f32_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
#endif
}

TAO_HD float bits_f32(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  memcpy(&f, &u, 4);
  return f;
#endif
}

TAO_HD uint64_t f64_bits(double f) {
#if defined(__CUDA_ARCH__)
  return (uint64_t)__double_as_longlong(f);
#else
  uint64_t u;
  memcpy(&u, &f, 8);
  return u;
#endif
}

TAO_HD double bits_f64(uint64_t u) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double((long long)u);
#else
  double f;
  memcpy(&f, &u, 8);
  return f;
#endif
}

#if defined(__CUDA_ARCH__)
TAO_HD float mul_rn(float a, float b) { return __fmul_rn(a, b); }
TAO_HD float add_rn(float a, float b) { return __fadd_rn(a, b); }
TAO_HD float sub_rn(float a, float b) { return __fsub_rn(a, b); }
TAO_HD float div_rn(float a, float b) { return __fdiv_rn(a, b); }
TAO_HD float rint_f(float a) { return rintf(a); }
TAO_HD float fma_f(float a, float b, float c) { return __fmaf_rn(a, b, c); }
TAO_HD float abs_f(float a) { return fabsf(a); }
TAO_HD double dmul(double a, double b) { return __dmul_rn(a, b); }
TAO_HD double dadd(double a, double b) { return __dadd_rn(a, b); }
TAO_HD double dsub(double a, double b) { return __dsub_rn(a, b); }
TAO_HD double ddiv(double a, double b) { return __ddiv_rn(a, b); }
TAO_HD double dsqrt(double a) { return __dsqrt_rn(a); }
#else
TAO_HD float mul_rn(float a, float b) { return a * b; }
TAO_HD float add_rn(float a, float b) { return a + b; }
TAO_HD float sub_rn(float a, float b) { return a - b; }
TAO_HD float div_rn(float a, float b) { return a / b; }
TAO_HD float rint_f(float a) { return __builtin_rintf(a); }
TAO_HD float fma_f(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
TAO_HD float abs_f(float a) { return __builtin_fabsf(a); }
TAO_HD double dmul(double a, double b) { return a * b; }
TAO_HD double dadd(double a, double b) { return a + b; }
TAO_HD double dsub(double a, double b) { return a - b; }
TAO_HD double ddiv(double a, double b) { return a / b; }
TAO_HD double dsqrt(double a) { return __builtin_sqrt(a); }
#endif

// NaN-propagating min/max (like torch.amin/amax): a NaN operand wins.
TAO_HD float nan_min(float a, float b) { return (a != a || a < b) ? a : b; }
TAO_HD float nan_max(float a, float b) { return (a != a || a > b) ? a : b; }

}  // namespace tao
