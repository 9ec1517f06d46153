// Argument checks shared by the entry points.
#include "checks.h"

#include "dtype.h"
#include "status.h"
#ifdef TAO_WITH_CUDA
#include "../cuda/device.h"
#endif

namespace tao {

tao_status check_ctx(tao_ctx* ctx, const char* op) {
  if (!ctx) return fail(TAO_ERR_INVALID_ARGUMENT, op, "ctx is NULL");
  return TAO_OK;
}

tao_status check_buffer(tao_ctx* ctx, const void* p, const char* op, const char* name) {
  if (!p) return fail(TAO_ERR_INVALID_ARGUMENT, op, "%s is NULL", name);
#ifdef TAO_WITH_CUDA
  return cuda::check_pointer(ctx, p, op, name);
#else
  (void)ctx;
  return TAO_OK;
#endif
}

tao_status check_float_dtype(const char* op, int64_t dtype) {
  if (!dtype_is_wide_float(dtype))
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "dtype %s: f32, f16 or bf16 expected", dtype_name(dtype));
  return TAO_OK;
}

tao_status check_mnk(const char* op, int64_t m, int64_t n, int64_t k) {
  if (m < 1 || n < 1 || k < 1)
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "m=%lld, n=%lld, k=%lld must all be >= 1", (long long)m, (long long)n,
                (long long)k);
  if (m > (1LL << 31) || n > (1LL << 31) || k > (1LL << 31) || (double)m * (double)k > 4e18 ||
      (double)n * (double)k > 4e18 || (double)m * (double)n > 4e18)
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "m=%lld, n=%lld, k=%lld too large", (long long)m, (long long)n, (long long)k);
  return TAO_OK;
}

}  // namespace tao
