// Entry points of the W8A8 int8 ops (tao_quantize_rows_int8, tao_linear_int8_int8): validation,
// then the context's backend.
#include "backend.h"
#include "checks.h"
#include "dtype.h"
#include "status.h"

namespace {
// |xq · wq| <= 128 · 128 = 2^14 per product: k of them fit int32 for k <= 2^17.
constexpr int64_t kMaxK = 131072;
}  // namespace

extern "C" tao_status tao_quantize_rows_int8(tao_ctx* ctx, const void* x, int32_t dtype, const float* smooth, int8_t* q,
                                             float* scale, int64_t m, int64_t k) {
  using namespace tao;
  const char* op = "tao_quantize_rows_int8";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_float_dtype(op, dtype));
  if (m < 1 || k < 1) return fail(TAO_ERR_INVALID_ARGUMENT, op, "m=%lld, k=%lld must both be >= 1", (long long)m, (long long)k);
  TAO_TRY(check_mnk(op, m, 1, k));
  TAO_TRY(check_buffer(ctx, x, op, "x"));
  if (smooth) TAO_TRY(check_buffer(ctx, smooth, op, "smooth"));
  TAO_TRY(check_buffer(ctx, q, op, "q"));
  TAO_TRY(check_buffer(ctx, scale, op, "scale"));
  const QuantRowsCall c{x, dtype, smooth, q, scale, m, k};
  TAO_DISPATCH(ctx, cpu::quantize_rows_int8(c), cuda::quantize_rows_int8(ctx, c));
}

extern "C" tao_status tao_linear_int8_int8(tao_ctx* ctx, const int8_t* xq, const float* xscale, const int8_t* wq,
                                           const float* wscale, const void* bias, void* y, int32_t dtype, int64_t m,
                                           int64_t n, int64_t k) {
  using namespace tao;
  const char* op = "tao_linear_int8_int8";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_float_dtype(op, dtype));
  TAO_TRY(check_mnk(op, m, n, k));
  if (k > kMaxK)
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "k=%lld: at most %lld, so the int32 sums cannot overflow", (long long)k,
                (long long)kMaxK);
  TAO_TRY(check_buffer(ctx, xq, op, "xq"));
  TAO_TRY(check_buffer(ctx, xscale, op, "xscale"));
  TAO_TRY(check_buffer(ctx, wq, op, "wq"));
  TAO_TRY(check_buffer(ctx, wscale, op, "wscale"));
  if (bias) TAO_TRY(check_buffer(ctx, bias, op, "bias"));
  TAO_TRY(check_buffer(ctx, y, op, "y"));
  const W8A8Call c{xq, xscale, wq, wscale, bias, y, dtype, m, n, k};
  TAO_DISPATCH(ctx, cpu::linear_int8_int8(c), cuda::linear_int8_int8(ctx, c));
}
