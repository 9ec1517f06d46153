// Argument checks shared by the entry points.
#include "checks.h"

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

}  // namespace tao
