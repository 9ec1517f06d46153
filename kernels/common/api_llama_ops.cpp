// Entry points of the elementwise and per-row transformer ops: tao_embedding, tao_rms_norm, tao_rope,
// tao_binary, tao_binary_rows, tao_increment_i32. Each validates, then runs the context's backend.
#include "backend.h"
#include "llama_checks.h"
#include "llama_ops.h"

using namespace tao;

extern "C" {

tao_status tao_embedding(tao_ctx* ctx, const int32_t* ids, int64_t n, const void* table, int32_t dtype, int64_t vocab,
                         int64_t dim, void* out) {
  const char* op = "tao_embedding";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_float_dtype(op, dtype));
  TAO_TRY(check_sizes(op, "n, vocab, dim", {n, vocab, dim}));
  TAO_TRY(check_sizes(op, "vocab, dim", {vocab, dim}));
  TAO_TRY(check_buffer(ctx, ids, op, "ids"));
  TAO_TRY(check_buffer(ctx, table, op, "table"));
  TAO_TRY(check_buffer(ctx, out, op, "out"));
  TAO_DISPATCH(ctx, cpu::embedding(ids, n, table, dtype, vocab, dim, out),
               cuda::embedding(ctx, ids, n, table, dtype, vocab, dim, out));
}

tao_status tao_rms_norm(tao_ctx* ctx, const void* x, const void* weight, void* y, int32_t dtype, int64_t rows,
                        int64_t dim, double eps) {
  const char* op = "tao_rms_norm";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_float_dtype(op, dtype));
  TAO_TRY(check_sizes(op, "rows, dim", {rows, dim}));
  if (!(eps >= 0) || eps > 1e30) return fail(TAO_ERR_INVALID_ARGUMENT, op, "eps=%g must be finite and >= 0", eps);
  TAO_TRY(check_buffer(ctx, x, op, "x"));
  TAO_TRY(check_buffer(ctx, weight, op, "weight"));
  TAO_TRY(check_buffer(ctx, y, op, "y"));
  TAO_DISPATCH(ctx, cpu::rms_norm(x, weight, y, dtype, rows, dim, (float)eps),
               cuda::rms_norm(ctx, x, weight, y, dtype, rows, dim, (float)eps));
}

tao_status tao_rope(tao_ctx* ctx, const void* x, void* y, int32_t dtype, int64_t batch, int64_t seq, int64_t heads,
                    int64_t head_dim, int64_t stride, const int32_t* positions, const int32_t* position, int64_t offset,
                    double theta, int32_t style) {
  const char* op = "tao_rope";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_float_dtype(op, dtype));
  TAO_TRY(check_sizes(op, "batch, seq, heads, head_dim", {batch, seq, heads, head_dim}));
  TAO_TRY(check_row_stride(op, "stride", stride, heads * head_dim, batch * seq));
  if (head_dim % 2) return fail(TAO_ERR_INVALID_ARGUMENT, op, "head_dim=%lld must be even", (long long)head_dim);
  if (style != TAO_ROPE_INTERLEAVED && style != TAO_ROPE_HALF)
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "style=%d is not TAO_ROPE_INTERLEAVED or TAO_ROPE_HALF", style);
  if (!(theta > 0) || theta > 1e30) return fail(TAO_ERR_INVALID_ARGUMENT, op, "theta=%g must be finite and > 0", theta);
  TAO_TRY(check_offset(op, "offset", offset));
  if (positions && position) return fail(TAO_ERR_INVALID_ARGUMENT, op, "give positions or position, not both");
  TAO_TRY(check_buffer(ctx, x, op, "x"));
  TAO_TRY(check_buffer(ctx, y, op, "y"));
  TAO_TRY(check_optional(ctx, positions, op, "positions"));
  TAO_TRY(check_optional(ctx, position, op, "position"));
  const RopeCall c{x, y, dtype, batch, seq, heads, head_dim, stride, positions, position, offset, theta, style};
  TAO_DISPATCH(ctx, cpu::rope(c), cuda::rope(ctx, c));
}

namespace {
// The checks both binary entry points share, then the backend (c's sizes already checked; no columns: nothing to do).
tao_status run_binary(tao_ctx* ctx, const char* op, const BinaryCall& c) {
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_float_dtype(op, c.dtype));
  if (c.op != TAO_BINARY_ADD && c.op != TAO_BINARY_MUL && c.op != TAO_BINARY_SILU_MUL)
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "op=%d is not a TAO_BINARY_* code", c.op);
  if (c.cols == 0) return TAO_OK;
  TAO_TRY(check_buffer(ctx, c.a, op, "a"));
  TAO_TRY(check_buffer(ctx, c.b, op, "b"));
  TAO_TRY(check_buffer(ctx, c.y, op, "y"));
  TAO_DISPATCH(ctx, cpu::binary(c), cuda::binary(ctx, c));
}
}  // namespace

tao_status tao_binary(tao_ctx* ctx, int32_t bop, const void* a, const void* b, void* y, int32_t dtype, uint64_t n) {
  const char* op = "tao_binary";
  if (n > (1ULL << 62)) return fail(TAO_ERR_INVALID_ARGUMENT, op, "n=%llu too large", (unsigned long long)n);
  return run_binary(ctx, op, BinaryCall{bop, a, b, y, dtype, 1, (int64_t)n, (int64_t)n, (int64_t)n, (int64_t)n});
}

tao_status tao_binary_rows(tao_ctx* ctx, int32_t bop, const void* a, const void* b, void* y, int32_t dtype, int64_t rows,
                           int64_t cols, int64_t a_stride, int64_t b_stride, int64_t y_stride) {
  const char* op = "tao_binary_rows";
  TAO_TRY(check_sizes(op, "rows, cols", {rows, cols}));
  TAO_TRY(check_row_stride(op, "a_stride", a_stride, cols, rows));
  TAO_TRY(check_row_stride(op, "b_stride", b_stride, cols, rows));
  TAO_TRY(check_row_stride(op, "y_stride", y_stride, cols, rows));
  return run_binary(ctx, op, BinaryCall{bop, a, b, y, dtype, rows, cols, a_stride, b_stride, y_stride});
}

tao_status tao_increment_i32(tao_ctx* ctx, int32_t* p, int64_t n, int32_t delta) {
  const char* op = "tao_increment_i32";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_sizes(op, "n", {n}));
  TAO_TRY(check_buffer(ctx, p, op, "p"));
  TAO_DISPATCH(ctx, cpu::increment_i32(p, n, delta), cuda::increment_i32(ctx, p, n, delta));
}

}  // extern "C"
