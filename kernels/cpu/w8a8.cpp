// CPU W8A8 int8: tao_quantize_rows_int8 (per-token symmetric quantization, SmoothQuant's 1/s fused)
// and tao_linear_int8_int8 (exact int32 sums, then the f32 epilogue of tao.h).
//
// The GEMM is a dot-product kernel over rows: a tile is 4 rows of x against 4 rows of w, each
// accumulator a vector of int32 partial sums along k, reduced horizontally once per tile.
//  - AVX-512 VNNI: vpdpbusd multiplies unsigned bytes by signed bytes and adds groups of 4 into
//    int32 lanes (64 products per instruction). x is made unsigned once per row block
//    (x + 128 = x ^ 0x80), so Σ (x + 128)·w = Σ x·w + 128·Σ w, and the row sums Σ w (vpdpbusd of
//    a vector of ones with w) are subtracted. Every step is int32 and wraps modulo 2^32, so the
//    result is exact whenever the true sum fits int32 (tao.h bounds k for that). The last k % 64
//    bytes of w are read with a masked load (zeros past k), so w is read in place; the x block is
//    padded.
//  - AVX2 (no VNNI): x and the 4 rows of w of a block are widened to int16 and vpmaddwd sums pairs
//    of int16 products into int32 (|pair| <= 2·128·128 = 2^15, no saturation).
//  - Otherwise scalar int32.
// The path is picked at run time from the CPU (TAO_W8A8_CPU=avx2|scalar forces a lower one, for
// tests and benchmarks). Rows of x are processed in blocks of about 512 KB so a block stays in L2
// while every weight row is read once per block; threads split the weight rows.
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <vector>

#include "../common/backend.h"
#include "../common/convert.h"
#include "parallel.h"
#include "simd.h"

// GCC 12 flags the deliberately undefined lanes inside its own _mm512_reduce_add_epi32.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace tao {
namespace cpu {

namespace {

// ------------------------------------------------------------------ quantize

template <int D>
TAO_INLINE void quantize_rows_as(const QuantRowsCall& c, const float* inv, int64_t r0, int64_t r1, float* v) {
  const auto* x = (const typename Dt<D>::T*)c.x;
  const int64_t k = c.k;
  for (int64_t r = r0; r < r1; ++r) {
    const auto* xr = x + r * k;
    uint32_t amax = 0;  // |v| as bits: for non-negative floats the integer order is the float order, NaN above inf
    for (int64_t j = 0; j < k; ++j) {
      float f = Dt<D>::to_f32(xr[j]);
      if (inv) f = mul_rn(f, inv[j]);
      v[j] = f;
      const uint32_t b = f32_bits(f) & 0x7fffffffu;
      amax = b > amax ? b : amax;
    }
    float s = div_rn(bits_f32(amax), 127.0f);
    if (s < 1e-5f) s = 1e-5f;  // a NaN stays NaN
    const float is = div_rn(1.0f, s);
    int8_t* qr = c.q + r * k;
    for (int64_t j = 0; j < k; ++j) {
      float t = rint_f(mul_rn(v[j], is));
      t = t != t ? 0.0f : t;
      t = t < -127.0f ? -127.0f : t > 127.0f ? 127.0f : t;
      qr[j] = (int8_t)(int32_t)t;
    }
    c.scale[r] = s;
  }
}

TAO_CPU_CLONES void quantize_block(const QuantRowsCall& c, const float* inv, int64_t r0, int64_t r1, float* v) {
  if (c.dtype == TAO_F32) quantize_rows_as<TAO_F32>(c, inv, r0, r1, v);
  else if (c.dtype == TAO_F16) quantize_rows_as<TAO_F16>(c, inv, r0, r1, v);
  else quantize_rows_as<TAO_BF16>(c, inv, r0, r1, v);
}

// ------------------------------------------------------------------ GEMM paths

enum class Path { Vnni, Avx2, Scalar };

Path pick_path() {
  static const Path p = [] {
    Path best = Path::Scalar;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512f"))
      best = Path::Vnni;
    else if (__builtin_cpu_supports("avx2"))
      best = Path::Avx2;
#endif
    const char* force = getenv("TAO_W8A8_CPU");
    if (force && !strcmp(force, "avx2") && best == Path::Vnni) best = Path::Avx2;
    if (force && !strcmp(force, "scalar")) best = Path::Scalar;
    return best;
  }();
  return p;
}

constexpr int NR = 4;  // weight rows per tile (and per block)
constexpr int MR = 4;  // x rows per tile

// f32 epilogue of tao.h: y = dtype(((float)acc · (xs · ws)) + bias), each step rounded.
template <int D>
TAO_INLINE void store(const W8A8Call& c, int64_t i, int64_t j0, int64_t nb, const int32_t* acc) {
  using T = typename Dt<D>::T;
  const T* bias = (const T*)c.bias;
  T* y = (T*)c.y + i * c.n;
  const float xs = c.xscale[i];
  for (int64_t j = 0; j < nb; ++j) {
    float v = mul_rn((float)acc[j], mul_rn(xs, c.wscale[j0 + j]));
    if (bias) v = add_rn(v, Dt<D>::to_f32(bias[j0 + j]));
    y[j0 + j] = Dt<D>::from_f32(v);
  }
}

void store_tile(const W8A8Call& c, int64_t i, int64_t j0, int64_t nb, const int32_t* acc) {
  if (c.dtype == TAO_BF16) store<TAO_BF16>(c, i, j0, nb, acc);
  else if (c.dtype == TAO_F16) store<TAO_F16>(c, i, j0, nb, acc);
  else store<TAO_F32>(c, i, j0, nb, acc);
}

#if defined(__x86_64__) && defined(__GNUC__)
#define TAO_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#define TAO_AVX2 __attribute__((target("avx2,fma")))

// s[a][b] = Σ_t x[a·kp + t] · w[b][t] - 128·wsum[b] over k, for R rows of x (x stored as x ^ 0x80).
template <int R>
TAO_VNNI TAO_INLINE void vnni_tile(const uint8_t* x, int64_t kp, const int8_t* const* w, int64_t k, const int32_t* wsum,
                                   int32_t (*s)[NR]) {
  __m512i acc[R][NR];
  for (int a = 0; a < R; ++a)
    for (int b = 0; b < NR; ++b) acc[a][b] = _mm512_setzero_si512();
  const int64_t kfull = k / 64 * 64;
  for (int64_t t = 0; t < kfull; t += 64) {
    __m512i wv[NR];
    for (int b = 0; b < NR; ++b) wv[b] = _mm512_loadu_si512((const void*)(w[b] + t));
    for (int a = 0; a < R; ++a) {
      const __m512i xv = _mm512_loadu_si512((const void*)(x + a * kp + t));
      for (int b = 0; b < NR; ++b) acc[a][b] = _mm512_dpbusd_epi32(acc[a][b], xv, wv[b]);
    }
  }
  if (kfull < k) {
    const __mmask64 mask = ~0ULL >> (64 - (k - kfull));
    __m512i wv[NR];
    for (int b = 0; b < NR; ++b) wv[b] = _mm512_maskz_loadu_epi8(mask, w[b] + kfull);
    for (int a = 0; a < R; ++a) {
      const __m512i xv = _mm512_loadu_si512((const void*)(x + a * kp + kfull));
      for (int b = 0; b < NR; ++b) acc[a][b] = _mm512_dpbusd_epi32(acc[a][b], xv, wv[b]);
    }
  }
  for (int a = 0; a < R; ++a)
    for (int b = 0; b < NR; ++b)
      s[a][b] = (int32_t)((uint32_t)_mm512_reduce_add_epi32(acc[a][b]) - 128u * (uint32_t)wsum[b]);
}

// Σ_t w[t] for one row (vpdpbusd against ones).
TAO_VNNI int32_t vnni_row_sum(const int8_t* w, int64_t k) {
  const __m512i ones = _mm512_set1_epi8(1);
  __m512i acc = _mm512_setzero_si512();
  const int64_t kfull = k / 64 * 64;
  for (int64_t t = 0; t < kfull; t += 64) acc = _mm512_dpbusd_epi32(acc, ones, _mm512_loadu_si512((const void*)(w + t)));
  if (kfull < k) acc = _mm512_dpbusd_epi32(acc, ones, _mm512_maskz_loadu_epi8(~0ULL >> (64 - (k - kfull)), w + kfull));
  return _mm512_reduce_add_epi32(acc);
}

TAO_VNNI void vnni_block(const W8A8Call& c, const uint8_t* xb, int64_t kp, int64_t i0, int64_t rows, int64_t j0) {
  const int64_t nb = std::min<int64_t>(NR, c.n - j0);
  const int8_t* w[NR];
  int32_t wsum[NR];
  for (int b = 0; b < NR; ++b) {
    w[b] = c.wq + (j0 + std::min<int64_t>(b, nb - 1)) * c.k;  // rows past n repeat the last; their sums are dropped
    wsum[b] = vnni_row_sum(w[b], c.k);
  }
  int32_t s[MR][NR];
  for (int64_t i = 0; i < rows; i += MR) {
    const int64_t r = std::min<int64_t>(MR, rows - i);
    const uint8_t* x = xb + i * kp;
    if (r == 4) vnni_tile<4>(x, kp, w, c.k, wsum, s);
    else if (r == 3) vnni_tile<3>(x, kp, w, c.k, wsum, s);
    else if (r == 2) vnni_tile<2>(x, kp, w, c.k, wsum, s);
    else vnni_tile<1>(x, kp, w, c.k, wsum, s);
    for (int64_t a = 0; a < r; ++a) store_tile(c, i0 + i + a, j0, nb, s[a]);
  }
}

TAO_VNNI void vnni_x_rows(const W8A8Call& c, int64_t kp, int64_t r0, int64_t r1, uint8_t* dst) {
  const __m512i flip = _mm512_set1_epi8((char)0x80);
  for (int64_t r = r0; r < r1; ++r, dst += kp) {
    const int8_t* src = c.xq + r * c.k;
    int64_t t = 0;
    for (; t + 64 <= c.k; t += 64)
      _mm512_storeu_si512((void*)(dst + t), _mm512_xor_si512(_mm512_loadu_si512((const void*)(src + t)), flip));
    for (; t < c.k; ++t) dst[t] = (uint8_t)(src[t] ^ 0x80);
    for (; t < kp; ++t) dst[t] = 0;
  }
}

// s[a][b] = Σ_t x[a·kp + t] · w[b·kp + t], int16 data, kp a multiple of 16.
template <int R>
TAO_AVX2 TAO_INLINE void avx2_tile(const int16_t* x, const int16_t* w, int64_t kp, int32_t (*s)[NR]) {
  __m256i acc[R][NR];
  for (int a = 0; a < R; ++a)
    for (int b = 0; b < NR; ++b) acc[a][b] = _mm256_setzero_si256();
  for (int64_t t = 0; t < kp; t += 16) {
    __m256i wv[NR];
    for (int b = 0; b < NR; ++b) wv[b] = _mm256_loadu_si256((const __m256i*)(w + b * kp + t));
    for (int a = 0; a < R; ++a) {
      const __m256i xv = _mm256_loadu_si256((const __m256i*)(x + a * kp + t));
      for (int b = 0; b < NR; ++b) acc[a][b] = _mm256_add_epi32(acc[a][b], _mm256_madd_epi16(xv, wv[b]));
    }
  }
  for (int a = 0; a < R; ++a)
    for (int b = 0; b < NR; ++b) {
      const __m128i h = _mm_add_epi32(_mm256_castsi256_si128(acc[a][b]), _mm256_extracti128_si256(acc[a][b], 1));
      const __m128i q = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
      s[a][b] = _mm_cvtsi128_si32(_mm_add_epi32(q, _mm_shuffle_epi32(q, 0xb1)));
    }
}

TAO_AVX2 void widen16(const int8_t* src, int64_t k, int64_t kp, int16_t* dst) {
  int64_t t = 0;
  for (; t + 16 <= k; t += 16)
    _mm256_storeu_si256((__m256i*)(dst + t), _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i*)(src + t))));
  for (; t < k; ++t) dst[t] = src[t];
  for (; t < kp; ++t) dst[t] = 0;
}

TAO_AVX2 void avx2_block(const W8A8Call& c, const int16_t* xb, int64_t kp, int64_t i0, int64_t rows, int64_t j0, int16_t* panel) {
  const int64_t nb = std::min<int64_t>(NR, c.n - j0);
  for (int b = 0; b < NR; ++b) widen16(c.wq + (j0 + std::min<int64_t>(b, nb - 1)) * c.k, c.k, kp, panel + b * kp);
  int32_t s[2][NR];
  for (int64_t i = 0; i < rows; i += 2) {  // 2 x 4 tiles: 8 accumulators + 5 loads fit the 16 ymm registers
    const int64_t r = std::min<int64_t>(2, rows - i);
    if (r == 2) avx2_tile<2>(xb + i * kp, panel, kp, s);
    else avx2_tile<1>(xb + i * kp, panel, kp, s);
    for (int64_t a = 0; a < r; ++a) store_tile(c, i0 + i + a, j0, nb, s[a]);
  }
}
#endif

void scalar_block(const W8A8Call& c, int64_t i0, int64_t rows, int64_t j0) {
  const int64_t nb = std::min<int64_t>(NR, c.n - j0);
  int32_t s[NR];
  for (int64_t i = i0; i < i0 + rows; ++i) {
    const int8_t* x = c.xq + i * c.k;
    for (int64_t b = 0; b < nb; ++b) {
      const int8_t* w = c.wq + (j0 + b) * c.k;
      int32_t acc = 0;
      for (int64_t t = 0; t < c.k; ++t) acc += (int32_t)x[t] * (int32_t)w[t];
      s[b] = acc;
    }
    store_tile(c, i, j0, nb, s);
  }
}

}  // namespace

tao_status quantize_rows_int8(const QuantRowsCall& c) {
  std::vector<float> inv;
  if (c.smooth) {
    inv.resize((size_t)c.k);
    for (int64_t j = 0; j < c.k; ++j) inv[(size_t)j] = div_rn(1.0f, c.smooth[j]);
  }
  const float* invp = c.smooth ? inv.data() : nullptr;
  const uint64_t grain = (uint64_t)std::max<int64_t>(1, 16384 / c.k);
  parallel_for((uint64_t)c.m, grain, [&](uint64_t b, uint64_t e) {
    std::vector<float> v((size_t)c.k);
    quantize_block(c, invp, (int64_t)b, (int64_t)e, v.data());
  });
  return TAO_OK;
}

tao_status linear_int8_int8(const W8A8Call& c) {
  const Path path = pick_path();
  const int64_t nblocks = (c.n + NR - 1) / NR;
  if (path == Path::Scalar) {
    parallel_for((uint64_t)nblocks, 1, [&](uint64_t b, uint64_t e) {
      for (uint64_t t = b; t < e; ++t) scalar_block(c, 0, c.m, (int64_t)t * NR);
    });
    return TAO_OK;
  }
#if defined(__x86_64__) && defined(__GNUC__)
  const bool vnni = path == Path::Vnni;
  const int64_t kp = vnni ? (c.k + 63) / 64 * 64 : (c.k + 15) / 16 * 16;
  const int64_t esize = vnni ? 1 : 2;
  // Rows of x per block: about 512 KB of converted rows (a multiple of the tile height).
  int64_t mb = std::max<int64_t>(MR, (512 << 10) / (kp * esize) / MR * MR);
  mb = std::min(mb, c.m);
  std::vector<uint8_t> xstore((size_t)(mb * kp * esize) + 64);
  uint8_t* xb = (uint8_t*)(((uintptr_t)xstore.data() + 63) & ~(uintptr_t)63);
  for (int64_t i0 = 0; i0 < c.m; i0 += mb) {
    const int64_t rows = std::min(mb, c.m - i0);
    parallel_for((uint64_t)rows, 8, [&](uint64_t b, uint64_t e) {
      if (vnni) vnni_x_rows(c, kp, i0 + (int64_t)b, i0 + (int64_t)e, xb + b * kp);
      else
        for (uint64_t r = b; r < e; ++r) widen16(c.xq + (i0 + (int64_t)r) * c.k, c.k, kp, (int16_t*)xb + r * kp);
    });
    parallel_for((uint64_t)nblocks, 1, [&](uint64_t b, uint64_t e) {
      std::vector<int16_t> panel(vnni ? 0 : (size_t)(NR * kp));
      for (uint64_t t = b; t < e; ++t) {
        if (vnni) vnni_block(c, xb, kp, i0, rows, (int64_t)t * NR);
        else avx2_block(c, (const int16_t*)xb, kp, i0, rows, (int64_t)t * NR, panel.data());
      }
    });
  }
#endif
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
