// Entry point of tao_linear: validation, then the context's backend.
#include "backend.h"
#include "checks.h"
#include "dtype.h"
#include "status.h"

extern "C" tao_status tao_linear(tao_ctx* ctx, const void* x, const void* w, const void* bias, void* y, int32_t dtype,
                                 int64_t m, int64_t n, int64_t k) {
  using namespace tao;
  const char* op = "tao_linear";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_float_dtype(op, dtype));
  TAO_TRY(check_mnk(op, m, n, k));
  TAO_TRY(check_buffer(ctx, x, op, "x"));
  TAO_TRY(check_buffer(ctx, w, op, "w"));
  TAO_TRY(check_buffer(ctx, y, op, "y"));
  if (bias) TAO_TRY(check_buffer(ctx, bias, op, "bias"));
  const LinearCall c{x, w, bias, y, dtype, m, n, k};
  TAO_DISPATCH(ctx, cpu::linear(c), cuda::linear(ctx, c));
}
