// Entry point of tao_linear_int8_weight_only: validation, then the context's backend.
#include "backend.h"
#include "checks.h"
#include "dtype.h"
#include "status.h"

extern "C" tao_status tao_linear_int8_weight_only(tao_ctx* ctx, const void* x, const void* q, const void* scale,
                                                  const void* bias, void* y, int32_t dtype, int64_t m, int64_t n,
                                                  int64_t k) {
  using namespace tao;
  const char* op = "tao_linear_int8_weight_only";
  TAO_TRY(check_ctx(ctx, op));
  if (dtype != TAO_BF16 && dtype != TAO_F16)
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "dtype %s: bf16 or f16 expected", dtype_name(dtype));
  TAO_TRY(check_mnk(op, m, n, k));
  TAO_TRY(check_buffer(ctx, x, op, "x"));
  TAO_TRY(check_buffer(ctx, q, op, "q"));
  TAO_TRY(check_buffer(ctx, scale, op, "scale"));
  if (bias) TAO_TRY(check_buffer(ctx, bias, op, "bias"));
  TAO_TRY(check_buffer(ctx, y, op, "y"));
  const Int8LinearCall c{x, q, scale, bias, y, dtype, m, n, k};
  TAO_DISPATCH(ctx, cpu::int8_linear(c), cuda::int8_linear(ctx, c));
}
