// Entry points of 2:4 sparsity: the mask, masking, Wanda's column statistic, the compressed form
// (compress / decompress) and its linear. Validation, then the context's backend.
#include "backend.h"
#include "checks.h"
#include "dtype.h"
#include "status.h"

namespace tao {
namespace {

bool weight_dtype(int32_t dt) { return dt == TAO_F32 || dt == TAO_F16 || dt == TAO_BF16 || dt == TAO_I8; }

// n >= 1, k a positive multiple of 4, sizes addressable.
tao_status check_nk(const char* op, int64_t n, int64_t k) {
  if (k < 4 || k % 4 != 0) return fail(TAO_ERR_INVALID_ARGUMENT, op, "k=%lld must be a positive multiple of 4 (groups of 4 along k)", (long long)k);
  return check_mnk(op, 1, n, k);
}

tao_status run(tao_ctx* ctx, const char* op, Sparse24Op kind, const Sparse24Call& c) {
  if (!weight_dtype(c.dtype)) return fail(TAO_ERR_INVALID_ARGUMENT, op, "dtype %s: f32, f16, bf16 or i8 expected", dtype_name(c.dtype));
  TAO_TRY(check_nk(op, c.n, c.k));
  TAO_DISPATCH(ctx, cpu::sparse24(kind, c), cuda::sparse24(ctx, kind, c));
}

}  // namespace
}  // namespace tao

using namespace tao;

extern "C" tao_status tao_sparse24_mask(tao_ctx* ctx, const void* w, int32_t dtype, const float* col_scale, uint8_t* mask,
                                        int64_t n, int64_t k) {
  const char* op = "tao_sparse24_mask";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_buffer(ctx, w, op, "w"));
  if (col_scale) TAO_TRY(check_buffer(ctx, col_scale, op, "col_scale"));
  TAO_TRY(check_buffer(ctx, mask, op, "mask"));
  return run(ctx, op, Sparse24Op::Mask, Sparse24Call{w, nullptr, dtype, col_scale, mask, nullptr, nullptr, nullptr, nullptr, n, k});
}

extern "C" tao_status tao_sparse24_compress(tao_ctx* ctx, const void* w, int32_t dtype, void* values, uint8_t* meta,
                                            int64_t n, int64_t k) {
  const char* op = "tao_sparse24_compress";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_buffer(ctx, w, op, "w"));
  TAO_TRY(check_buffer(ctx, values, op, "values"));
  TAO_TRY(check_buffer(ctx, meta, op, "meta"));
  return run(ctx, op, Sparse24Op::Compress, Sparse24Call{w, nullptr, dtype, nullptr, nullptr, nullptr, values, nullptr, meta, n, k});
}

extern "C" tao_status tao_sparse24_decompress(tao_ctx* ctx, const void* values, const uint8_t* meta, int32_t dtype, void* w,
                                              int64_t n, int64_t k) {
  const char* op = "tao_sparse24_decompress";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_buffer(ctx, values, op, "values"));
  TAO_TRY(check_buffer(ctx, meta, op, "meta"));
  TAO_TRY(check_buffer(ctx, w, op, "w"));
  return run(ctx, op, Sparse24Op::Decompress, Sparse24Call{nullptr, w, dtype, nullptr, nullptr, values, nullptr, meta, nullptr, n, k});
}

extern "C" tao_status tao_apply_mask(tao_ctx* ctx, void* x, int32_t dtype, const uint8_t* mask, uint64_t numel) {
  const char* op = "tao_apply_mask";
  TAO_TRY(check_ctx(ctx, op));
  if (!dtype_valid(dtype)) return fail(TAO_ERR_INVALID_ARGUMENT, op, "dtype %d is not a tao dtype", (int)dtype);
  if (numel == 0 || numel > (1ULL << 62)) return fail(TAO_ERR_INVALID_ARGUMENT, op, "numel=%llu must be in 1..2^62", (unsigned long long)numel);
  TAO_TRY(check_buffer(ctx, x, op, "x"));
  TAO_TRY(check_buffer(ctx, mask, op, "mask"));
  TAO_DISPATCH(ctx, cpu::apply_mask(x, dtype_size(dtype), mask, numel), cuda::apply_mask(ctx, x, dtype_size(dtype), mask, numel));
}

extern "C" tao_status tao_column_sq_sum(tao_ctx* ctx, const void* x, int32_t dtype, float* acc, int64_t m, int64_t k) {
  const char* op = "tao_column_sq_sum";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_float_dtype(op, dtype));
  TAO_TRY(check_mnk(op, m, 1, k));
  TAO_TRY(check_buffer(ctx, x, op, "x"));
  TAO_TRY(check_buffer(ctx, acc, op, "acc"));
  TAO_DISPATCH(ctx, cpu::column_sq_sum(x, dtype, acc, m, k), cuda::column_sq_sum(ctx, x, dtype, acc, m, k));
}

extern "C" tao_status tao_linear_sparse24(tao_ctx* ctx, const void* x, const void* values, const uint8_t* meta,
                                          const void* bias, void* y, int32_t dtype, int64_t m, int64_t n, int64_t k) {
  const char* op = "tao_linear_sparse24";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_float_dtype(op, dtype));
  TAO_TRY(check_nk(op, n, k));
  TAO_TRY(check_mnk(op, m, n, k));
  if (k > (1LL << 25)) return fail(TAO_ERR_INVALID_ARGUMENT, op, "k=%lld: at most 2^25", (long long)k);
  TAO_TRY(check_buffer(ctx, x, op, "x"));
  TAO_TRY(check_buffer(ctx, values, op, "values"));
  TAO_TRY(check_buffer(ctx, meta, op, "meta"));
  if (bias) TAO_TRY(check_buffer(ctx, bias, op, "bias"));
  TAO_TRY(check_buffer(ctx, y, op, "y"));
  const Sparse24LinearCall c{x, values, meta, bias, y, dtype, m, n, k};
  TAO_DISPATCH(ctx, cpu::linear_sparse24(c), cuda::linear_sparse24(ctx, c));
}
