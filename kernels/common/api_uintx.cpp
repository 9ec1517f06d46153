// Entry points of the uintx ops (tao_uintx_pack, _unpack, tao_dequantize_uintx, tao_linear_uintx):
// validation, then the context's backend.
#include "backend.h"
#include "checks.h"
#include "status.h"
#include "uintx.h"

namespace tao {
namespace {

// n, k in range and bits in 1..7.
tao_status check_values(const char* op, int64_t n, int64_t k, int32_t bits) {
  TAO_TRY(check_mnk(op, 1, n, k));
  if (bits < 1 || bits > 7) return fail(TAO_ERR_INVALID_ARGUMENT, op, "bits=%d must be in 1..7", bits);
  return TAO_OK;
}

// The packed weight with its group parameters on ctx's device, checked; returned as a UintxWeight.
tao_status check_weight(tao_ctx* ctx, const char* op, const uint8_t* packed, const uint16_t* scale, const uint16_t* zero,
                        int64_t n, int64_t k, int32_t bits, int32_t group, int32_t domain, UintxWeight* w) {
  TAO_TRY(check_values(op, n, k, bits));
  if (group != 32 && group != 64 && group != 128 && group != 256)
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "group=%d must be 32, 64, 128 or 256", group);
  if (k % group != 0) return fail(TAO_ERR_INVALID_ARGUMENT, op, "k=%lld must be a multiple of group=%d", (long long)k, group);
  if (domain != TAO_ZERO_POINT_INT && domain != TAO_ZERO_POINT_FLOAT)
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "domain=%d must be TAO_ZERO_POINT_INT or TAO_ZERO_POINT_FLOAT", domain);
  TAO_TRY(check_buffer(ctx, packed, op, "packed"));
  TAO_TRY(check_buffer(ctx, scale, op, "scale"));
  TAO_TRY(check_buffer(ctx, zero, op, "zero"));
  *w = UintxWeight{packed, scale, zero, n, k, bits, group, domain};
  return TAO_OK;
}

// Pack (values → packed) or Unpack (packed → values).
tao_status values_and_packed(tao_ctx* ctx, const char* op, UintxOp kind, const uint8_t* q, const uint8_t* packed, int64_t n,
                             int64_t k, int32_t bits) {
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_values(op, n, k, bits));
  TAO_TRY(check_buffer(ctx, q, op, "q"));
  TAO_TRY(check_buffer(ctx, packed, op, "packed"));
  const UintxCall c{UintxWeight{packed, nullptr, nullptr, n, k, bits, 0, 0}, (uint8_t*)q, nullptr, 0};
  TAO_DISPATCH(ctx, cpu::uintx(kind, c), cuda::uintx(ctx, kind, c));
}

}  // namespace
}  // namespace tao

using namespace tao;

extern "C" tao_status tao_uintx_pack(tao_ctx* ctx, const uint8_t* q, int64_t n, int64_t k, int32_t bits, uint8_t* packed) {
  return values_and_packed(ctx, "tao_uintx_pack", UintxOp::Pack, q, packed, n, k, bits);
}

extern "C" tao_status tao_uintx_unpack(tao_ctx* ctx, const uint8_t* packed, int64_t n, int64_t k, int32_t bits, uint8_t* q) {
  return values_and_packed(ctx, "tao_uintx_unpack", UintxOp::Unpack, q, packed, n, k, bits);
}

extern "C" tao_status tao_dequantize_uintx(tao_ctx* ctx, const uint8_t* packed, const uint16_t* scale, const uint16_t* zero,
                                           int64_t n, int64_t k, int32_t bits, int32_t group, int32_t domain, void* out,
                                           int32_t dtype) {
  const char* op = "tao_dequantize_uintx";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_float_dtype(op, dtype));
  UintxWeight w;
  TAO_TRY(check_weight(ctx, op, packed, scale, zero, n, k, bits, group, domain, &w));
  TAO_TRY(check_buffer(ctx, out, op, "out"));
  const UintxCall c{w, nullptr, out, dtype};
  TAO_DISPATCH(ctx, cpu::uintx(UintxOp::Dequantize, c), cuda::uintx(ctx, UintxOp::Dequantize, c));
}

extern "C" tao_status tao_linear_uintx(tao_ctx* ctx, const void* x, const uint8_t* packed, const uint16_t* scale,
                                       const uint16_t* zero, const void* bias, void* y, int32_t dtype, int64_t m, int64_t n,
                                       int64_t k, int32_t bits, int32_t group, int32_t domain) {
  const char* op = "tao_linear_uintx";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_float_dtype(op, dtype));
  TAO_TRY(check_mnk(op, m, n, k));
  UintxWeight w;
  TAO_TRY(check_weight(ctx, op, packed, scale, zero, n, k, bits, group, domain, &w));
  TAO_TRY(check_buffer(ctx, x, op, "x"));
  if (bias) TAO_TRY(check_buffer(ctx, bias, op, "bias"));
  TAO_TRY(check_buffer(ctx, y, op, "y"));
  const UintxLinearCall c{w, x, bias, y, dtype, m};
  TAO_DISPATCH(ctx, cpu::uintx_linear(c), cuda::uintx_linear(ctx, c));
}
