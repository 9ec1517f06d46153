// Entry points of the NF4 ops (tao_nf4_quantize, _pack, _unpack, tao_dequantize_nf4, tao_linear_nf4):
// validation, then the context's backend.
#include "backend.h"
#include "checks.h"
#include "dtype.h"
#include "status.h"

namespace tao {
namespace {

// n, k in range, k a multiple of 64.
tao_status check_nk(const char* op, int64_t n, int64_t k) {
  TAO_TRY(check_mnk(op, 1, n, k));
  if (k % kNf4Block != 0) return fail(TAO_ERR_INVALID_ARGUMENT, op, "k=%lld must be a multiple of 64", (long long)k);
  return TAO_OK;
}

// The packed weight's four buffers live on ctx's device; returns it as an Nf4Weight.
tao_status check_weight(tao_ctx* ctx, const char* op, const uint8_t* packed, const int8_t* qscale, const float* scale2,
                        const float* offset, int64_t n, int64_t k, Nf4Weight* w) {
  TAO_TRY(check_nk(op, n, k));
  TAO_TRY(check_buffer(ctx, packed, op, "packed"));
  TAO_TRY(check_buffer(ctx, qscale, op, "qscale"));
  TAO_TRY(check_buffer(ctx, scale2, op, "scale2"));
  TAO_TRY(check_buffer(ctx, offset, op, "offset"));
  *w = Nf4Weight{packed, qscale, scale2, offset, n, k};
  return TAO_OK;
}

// Pack (plain → packed) or Unpack (packed → plain): both forms' buffers checked, then the backend.
tao_status plain_and_packed(tao_ctx* ctx, const char* op, Nf4Op kind, const uint8_t* packed, const int8_t* qscale,
                            const float* scale2, const float* offset, int64_t n, int64_t k, uint8_t* codes, float* absmax) {
  TAO_TRY(check_ctx(ctx, op));
  Nf4Weight w;
  TAO_TRY(check_weight(ctx, op, packed, qscale, scale2, offset, n, k, &w));
  TAO_TRY(check_buffer(ctx, codes, op, "codes"));
  TAO_TRY(check_buffer(ctx, absmax, op, "absmax"));
  const Nf4Call c{w, nullptr, codes, absmax, nullptr, 0};
  TAO_DISPATCH(ctx, cpu::nf4(kind, c), cuda::nf4(ctx, kind, c));
}

}  // namespace
}  // namespace tao

using namespace tao;

extern "C" tao_status tao_nf4_quantize(tao_ctx* ctx, const void* w, int32_t dtype, int64_t n, int64_t k, uint8_t* codes,
                                       float* absmax) {
  const char* op = "tao_nf4_quantize";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_float_dtype(op, dtype));
  TAO_TRY(check_nk(op, n, k));
  TAO_TRY(check_buffer(ctx, w, op, "w"));
  TAO_TRY(check_buffer(ctx, codes, op, "codes"));
  TAO_TRY(check_buffer(ctx, absmax, op, "absmax"));
  const Nf4Call c{Nf4Weight{nullptr, nullptr, nullptr, nullptr, n, k}, w, codes, absmax, nullptr, dtype};
  TAO_DISPATCH(ctx, cpu::nf4(Nf4Op::Quantize, c), cuda::nf4(ctx, Nf4Op::Quantize, c));
}

extern "C" tao_status tao_nf4_pack(tao_ctx* ctx, const uint8_t* codes, const float* absmax, int64_t n, int64_t k,
                                   uint8_t* packed, int8_t* qscale, float* scale2, float* offset) {
  return plain_and_packed(ctx, "tao_nf4_pack", Nf4Op::Pack, packed, qscale, scale2, offset, n, k, (uint8_t*)codes, (float*)absmax);
}

extern "C" tao_status tao_nf4_unpack(tao_ctx* ctx, const uint8_t* packed, const int8_t* qscale, const float* scale2,
                                     const float* offset, int64_t n, int64_t k, uint8_t* codes, float* absmax) {
  return plain_and_packed(ctx, "tao_nf4_unpack", Nf4Op::Unpack, packed, qscale, scale2, offset, n, k, codes, absmax);
}

extern "C" tao_status tao_dequantize_nf4(tao_ctx* ctx, const uint8_t* packed, const int8_t* qscale, const float* scale2,
                                         const float* offset, int64_t n, int64_t k, void* out, int32_t dtype) {
  const char* op = "tao_dequantize_nf4";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_float_dtype(op, dtype));
  Nf4Weight w;
  TAO_TRY(check_weight(ctx, op, packed, qscale, scale2, offset, n, k, &w));
  TAO_TRY(check_buffer(ctx, out, op, "out"));
  const Nf4Call c{w, nullptr, nullptr, nullptr, out, dtype};
  TAO_DISPATCH(ctx, cpu::nf4(Nf4Op::Dequantize, c), cuda::nf4(ctx, Nf4Op::Dequantize, c));
}

extern "C" tao_status tao_linear_nf4(tao_ctx* ctx, const void* x, const uint8_t* packed, const int8_t* qscale,
                                     const float* scale2, const float* offset, const void* bias, void* y, int32_t dtype,
                                     int64_t m, int64_t n, int64_t k) {
  const char* op = "tao_linear_nf4";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_float_dtype(op, dtype));
  TAO_TRY(check_mnk(op, m, n, k));
  Nf4Weight w;
  TAO_TRY(check_weight(ctx, op, packed, qscale, scale2, offset, n, k, &w));
  TAO_TRY(check_buffer(ctx, x, op, "x"));
  if (bias) TAO_TRY(check_buffer(ctx, bias, op, "bias"));
  TAO_TRY(check_buffer(ctx, y, op, "y"));
  const Nf4LinearCall c{w, x, bias, y, dtype, m};
  TAO_DISPATCH(ctx, cpu::nf4_linear(c), cuda::nf4_linear(ctx, c));
}
