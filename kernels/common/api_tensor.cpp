// Entry points of the elementwise tensor ops: tao_cast, tao_fill, tao_fill_random,
// tao_strided_copy. Each validates, then runs the context's backend.
#include "backend.h"
#include "checks.h"
#include "dtype.h"
#include "status.h"

namespace tao {
namespace {

tao_status check_dtype(int64_t dt, const char* op, const char* name) {
  if (!dtype_valid(dt)) return fail(TAO_ERR_INVALID_ARGUMENT, op, "%s=%lld is not a TAO_* dtype code", name, (long long)dt);
  return TAO_OK;
}

}  // namespace
}  // namespace tao

using namespace tao;

extern "C" {

tao_status tao_cast(tao_ctx* ctx, const void* src, int32_t src_dtype, void* dst, int32_t dst_dtype, uint64_t n) {
  const char* op = "tao_cast";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_dtype(src_dtype, op, "src_dtype"));
  TAO_TRY(check_dtype(dst_dtype, op, "dst_dtype"));
  if (n == 0) return TAO_OK;
  TAO_TRY(check_buffer(ctx, src, op, "src"));
  TAO_TRY(check_buffer(ctx, dst, op, "dst"));
  if (src == dst && dtype_size(src_dtype) != dtype_size(dst_dtype))
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "in-place cast needs dtypes of equal size (%s -> %s)",
                dtype_name(src_dtype), dtype_name(dst_dtype));
  TAO_DISPATCH(ctx, cpu::cast(src, src_dtype, dst, dst_dtype, n), cuda::cast(ctx, src, src_dtype, dst, dst_dtype, n));
}

tao_status tao_fill(tao_ctx* ctx, void* dst, int32_t dtype, uint64_t n, double value) {
  const char* op = "tao_fill";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_dtype(dtype, op, "dtype"));
  if (n == 0) return TAO_OK;
  TAO_TRY(check_buffer(ctx, dst, op, "dst"));
  const float v = (float)value;
  TAO_DISPATCH(ctx, cpu::fill(dst, dtype, n, v), cuda::fill(ctx, dst, dtype, n, v));
}

tao_status tao_fill_random(tao_ctx* ctx, void* dst, int32_t dtype, uint64_t n, uint64_t seed, uint64_t offset,
                           int32_t distribution, double a, double b) {
  const char* op = "tao_fill_random";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_dtype(dtype, op, "dtype"));
  if (!dtype_is_float(dtype))
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "dtype %s: random fills need a float dtype", dtype_name(dtype));
  if (distribution != TAO_RANDOM_UNIFORM && distribution != TAO_RANDOM_NORMAL)
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "distribution=%d is not TAO_RANDOM_UNIFORM or TAO_RANDOM_NORMAL", distribution);
  if (!(a == a) || !(b == b)) return fail(TAO_ERR_INVALID_ARGUMENT, op, "a and b must not be NaN");
  if (distribution == TAO_RANDOM_NORMAL && b < 0) return fail(TAO_ERR_INVALID_ARGUMENT, op, "std=%g must be >= 0", b);
  if (distribution == TAO_RANDOM_UNIFORM && !(a <= b))
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "low=%g must be <= high=%g", a, b);
  if (n == 0) return TAO_OK;
  TAO_TRY(check_buffer(ctx, dst, op, "dst"));
  TAO_DISPATCH(ctx, cpu::fill_random(dst, dtype, n, seed, offset, distribution, a, b), cuda::fill_random(ctx, dst, dtype, n, seed, offset, distribution, a, b));
}

tao_status tao_strided_copy(tao_ctx* ctx, const void* src, void* dst, int32_t dtype, int32_t ndim,
                            const int64_t* shape, const int64_t* src_strides) {
  const char* op = "tao_strided_copy";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_dtype(dtype, op, "dtype"));
  if (ndim < 1 || ndim > TAO_MAX_DIMS)
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "ndim=%d must be in 1..%d", ndim, TAO_MAX_DIMS);
  if (!shape || !src_strides) return fail(TAO_ERR_INVALID_ARGUMENT, op, "shape and src_strides must not be NULL");
  StridedCopy sc;
  sc.ndim = ndim;
  sc.numel = 1;
  sc.elem_size = dtype_size(dtype);
  for (int d = 0; d < ndim; ++d) {
    if (shape[d] < 0) return fail(TAO_ERR_INVALID_ARGUMENT, op, "shape[%d]=%lld is negative", d, (long long)shape[d]);
    if (shape[d] > 0 && sc.numel > (1ULL << 62) / (uint64_t)shape[d])
      return fail(TAO_ERR_INVALID_ARGUMENT, op, "more than 2^62 elements");
    sc.shape[d] = shape[d];
    sc.strides[d] = src_strides[d];
    sc.numel *= (uint64_t)shape[d];
  }
  if (sc.numel == 0) return TAO_OK;
  TAO_TRY(check_buffer(ctx, src, op, "src"));
  TAO_TRY(check_buffer(ctx, dst, op, "dst"));
  TAO_DISPATCH(ctx, cpu::strided_copy(src, dst, sc), cuda::strided_copy(ctx, src, dst, sc));
}

}  // extern "C"
