// Counter-based random numbers that are bit-identical on the CPU and on CUDA.
// Element i of a fill with (seed, offset) uses Philox-4x32-10 with key = seed and counter = offset+i.
// The transforms (uniform scaling, Box-Muller's log and cos) are written with correctly rounded
// float64 operations only (no libm, no contraction), so both backends produce the same bits.
#pragma once
#include "hd.h"

namespace tao {

struct Philox4 {
  uint32_t w[4];
};

TAO_HD uint32_t mulhi32(uint32_t a, uint32_t b) {
  return (uint32_t)(((uint64_t)a * (uint64_t)b) >> 32);
}

// Philox-4x32 with 10 rounds (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3").
TAO_HD Philox4 philox4x32_10(uint64_t counter, uint64_t key) {
  uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
  for (int r = 0; r < 10; ++r) {
    uint32_t hi0 = mulhi32(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
    uint32_t hi1 = mulhi32(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
    uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return Philox4{{c0, c1, c2, c3}};
}

// Natural log of x in (0, +inf), normal x only: x = m * 2^e with m in [sqrt(1/2), sqrt(2)),
// ln m = 2 atanh(s), s = (m - 1) / (m + 1), by its odd series (|s| <= 0.1716, 11 terms).
TAO_HD double det_log(double x) {
  uint64_t b = f64_bits(x);
  int e = (int)((b >> 52) & 0x7ff) - 1023;
  double m = bits_f64((b & 0x000fffffffffffffULL) | 0x3ff0000000000000ULL);
  if (m > 1.4142135623730951) {
    m = dmul(m, 0.5);
    e += 1;
  }
  const double s = ddiv(dsub(m, 1.0), dadd(m, 1.0));
  const double s2 = dmul(s, s);
  const double c[11] = {1.0,
                        0.3333333333333333,
                        0.2,
                        0.14285714285714285,
                        0.1111111111111111,
                        0.09090909090909091,
                        0.07692307692307693,
                        0.06666666666666667,
                        0.058823529411764705,
                        0.05263157894736842,
                        0.047619047619047616};
  double p = c[10];
  for (int k = 9; k >= 0; --k) p = dadd(dmul(p, s2), c[k]);
  return dadd(dmul((double)e, 0.6931471805599453), dmul(dmul(2.0, s), p));
}

// cos(2*pi*t) for t in [0, 1): quadrant from the nearest quarter turn, then Taylor series of
// sin/cos on |a| <= pi/4.
TAO_HD double det_cos_2pi(double t) {
  const double q = (double)(int)dadd(dmul(t, 4.0), 0.5);  // nearest quarter (t >= 0)
  const double f = dsub(t, dmul(q, 0.25));                 // exact, in [-1/8, 1/8]
  const double a = dmul(6.283185307179586, f);
  const double a2 = dmul(a, a);
  // cos a = sum (-1)^k a^2k / (2k)!, sin a = a * sum (-1)^k a^2k / (2k+1)!
  const double ic[10] = {1.0, -0.5, 0.041666666666666664, -0.001388888888888889,
                         2.48015873015873e-05, -2.755731922398589e-07, 2.08767569878681e-09,
                         -1.1470745597729725e-11, 4.779477332387385e-14,
                         -1.5619206968586225e-16};
  const double is[10] = {1.0, -0.16666666666666666, 0.008333333333333333,
                         -0.0001984126984126984, 2.7557319223985893e-06,
                         -2.505210838544172e-08, 1.6059043836821613e-10,
                         -7.647163731819816e-13, 2.8114572543455206e-15,
                         -8.22063524662433e-18};
  double pc = ic[9], ps = is[9];
  for (int k = 8; k >= 0; --k) {
    pc = dadd(dmul(pc, a2), ic[k]);
    ps = dadd(dmul(ps, a2), is[k]);
  }
  const double c = pc, s = dmul(a, ps);
  switch (((int)q) & 3) {
    case 0: return c;
    case 1: return -s;
    case 2: return -c;
    default: return s;
  }
}

// Uniform in [a, b): u = top 24 bits of word 0 (exact in f32, so u < 1 survives rounding).
TAO_HD float random_uniform(uint64_t seed, uint64_t index, double a, double b) {
  const Philox4 r = philox4x32_10(index, seed);
  const double u = dmul((double)(r.w[0] >> 8), 5.9604644775390625e-08);  // 2^-24
  return (float)dadd(a, dmul(dsub(b, a), u));
}

// Normal(mean, std) by Box-Muller: z = sqrt(-2 ln u1) cos(2 pi u2), u1 in (0, 1], u2 in [0, 1).
TAO_HD float random_normal(uint64_t seed, uint64_t index, double mean, double stddev) {
  const Philox4 r = philox4x32_10(index, seed);
  const double u1 = dmul(dadd((double)r.w[0], 1.0), 2.3283064365386963e-10);  // 2^-32
  const double u2 = dmul((double)r.w[1], 2.3283064365386963e-10);
  const double z = dmul(dsqrt(dmul(-2.0, det_log(u1))), det_cos_2pi(u2));
  return (float)dadd(mean, dmul(stddev, z));
}

}  // namespace tao
