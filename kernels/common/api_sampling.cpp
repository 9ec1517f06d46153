// Entry points of token selection: tao_argmax and tao_sample. Each validates, then runs the
// context's backend.
#include "backend.h"
#include "llama_checks.h"
#include "llama_ops.h"

using namespace tao;

extern "C" {

tao_status tao_argmax(tao_ctx* ctx, const void* x, int32_t dtype, int64_t rows, int64_t n, int32_t* out) {
  const char* op = "tao_argmax";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_float_dtype(op, dtype));
  TAO_TRY(check_sizes(op, "rows, n", {rows, n}));
  TAO_TRY(check_buffer(ctx, x, op, "x"));
  TAO_TRY(check_buffer(ctx, out, op, "out"));
  TAO_DISPATCH(ctx, cpu::argmax(x, dtype, rows, n, out), cuda::argmax(ctx, x, dtype, rows, n, out));
}

tao_status tao_sample(tao_ctx* ctx, const void* logits, int32_t dtype, int64_t rows, int64_t vocab, double temperature,
                      int32_t top_k, uint64_t seed, const int32_t* position, int32_t* out) {
  const char* op = "tao_sample";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_float_dtype(op, dtype));
  TAO_TRY(check_sizes(op, "rows, vocab", {rows, vocab}));
  if (temperature != temperature || temperature > 1e30)
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "temperature=%g must be finite", temperature);
  TAO_TRY(check_buffer(ctx, logits, op, "logits"));
  TAO_TRY(check_buffer(ctx, out, op, "out"));
  TAO_TRY(check_optional(ctx, position, op, "position"));
  if (!((float)temperature > 0))  // zero, negative, or below f32's range: greedy
    TAO_DISPATCH(ctx, cpu::argmax(logits, dtype, rows, vocab, out), cuda::argmax(ctx, logits, dtype, rows, vocab, out));
  const SampleCall c{logits, dtype, rows, vocab, (float)temperature, top_k <= 0 || top_k >= vocab ? 0 : top_k, seed, position, out};
  TAO_DISPATCH(ctx, cpu::sample(c), cuda::sample(ctx, c));
}

}  // extern "C"
