// Entry points of tao_quantize_f8 and tao_linear_f8_f8: validation, then the context's backend.
#include "backend.h"
#include "checks.h"
#include "dtype.h"
#include "status.h"

extern "C" tao_status tao_quantize_f8(tao_ctx* ctx, const void* x, int32_t dtype, void* q, float* scale, int64_t m,
                                      int64_t k, int32_t rowwise) {
  using namespace tao;
  const char* op = "tao_quantize_f8";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_float_dtype(op, dtype));
  if (rowwise != 0 && rowwise != 1) return fail(TAO_ERR_INVALID_ARGUMENT, op, "rowwise must be 0 or 1, not %d", (int)rowwise);
  TAO_TRY(check_mnk(op, m, 1, k));
  TAO_TRY(check_buffer(ctx, x, op, "x"));
  TAO_TRY(check_buffer(ctx, q, op, "q"));
  TAO_TRY(check_buffer(ctx, scale, op, "scale"));
  const F8QuantCall c{x, dtype, (uint8_t*)q, scale, m, k, rowwise == 1};
  TAO_DISPATCH(ctx, cpu::quantize_f8(c), cuda::quantize_f8(ctx, c));
}

extern "C" tao_status tao_linear_f8_f8(tao_ctx* ctx, const void* xq, const float* xscale, int32_t x_rowwise,
                                       const void* wq, const float* wscale, int32_t w_rowwise, const void* bias, void* y,
                                       int32_t dtype, int64_t m, int64_t n, int64_t k, int32_t fast_accum) {
  using namespace tao;
  const char* op = "tao_linear_f8_f8";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_float_dtype(op, dtype));
  if (x_rowwise != 0 && x_rowwise != 1) return fail(TAO_ERR_INVALID_ARGUMENT, op, "x_rowwise must be 0 or 1, not %d", (int)x_rowwise);
  if (w_rowwise != 0 && w_rowwise != 1) return fail(TAO_ERR_INVALID_ARGUMENT, op, "w_rowwise must be 0 or 1, not %d", (int)w_rowwise);
  if (fast_accum != 0 && fast_accum != 1) return fail(TAO_ERR_INVALID_ARGUMENT, op, "fast_accum must be 0 or 1, not %d", (int)fast_accum);
  TAO_TRY(check_mnk(op, m, n, k));
  TAO_TRY(check_buffer(ctx, xq, op, "xq"));
  TAO_TRY(check_buffer(ctx, xscale, op, "xscale"));
  TAO_TRY(check_buffer(ctx, wq, op, "wq"));
  TAO_TRY(check_buffer(ctx, wscale, op, "wscale"));
  if (bias) TAO_TRY(check_buffer(ctx, bias, op, "bias"));
  TAO_TRY(check_buffer(ctx, y, op, "y"));
  const F8LinearCall c{(const uint8_t*)xq, xscale, x_rowwise == 1, (const uint8_t*)wq, wscale, w_rowwise == 1, bias, y, dtype,
                       m, n, k, fast_accum == 1};
  TAO_DISPATCH(ctx, cpu::linear_f8(c), cuda::linear_f8(ctx, c));
}
