// Entry points of the cuSPARSELt ops (packed size, pack, sparse linear bf16/f16 and int8):
// validation, then the CUDA backend (the CPU context has no cuSPARSELt: TAO_ERR_UNSUPPORTED).
#include "backend.h"
#include "checks.h"
#include "dtype.h"
#include "status.h"

namespace tao {
namespace {

// The CPU context (or a build without CUDA) cannot run cuSPARSELt.
tao_status cuda_only(tao_ctx* ctx, const char* op) {
  TAO_TRY(check_ctx(ctx, op));
#ifdef TAO_WITH_CUDA
  if (ctx->device >= 0) return TAO_OK;
#endif
  return fail(TAO_ERR_UNSUPPORTED, op, "cuSPARSELt runs on CUDA contexts only (the CPU has tao_linear_sparse24)");
}

tao_status check_weight(const char* op, int32_t dtype, int64_t n, int64_t k) {
  if (dtype == TAO_F16)
    return fail(TAO_ERR_UNSUPPORTED, op, "f16 is not enabled on cuSPARSELt (its f16 kernels faulted on an H100 with cuSPARSELt 0.8); use bf16");
  if (dtype != TAO_BF16 && dtype != TAO_I8) return fail(TAO_ERR_INVALID_ARGUMENT, op, "dtype %s: bf16 or i8 expected", dtype_name(dtype));
  if (k < 4 || k % 4 != 0) return fail(TAO_ERR_INVALID_ARGUMENT, op, "k=%lld must be a positive multiple of 4", (long long)k);
  return check_mnk(op, 1, n, k);
}

}  // namespace
}  // namespace tao

using namespace tao;

extern "C" tao_status tao_cusparselt_packed_size(tao_ctx* ctx, int32_t dtype, int64_t n, int64_t k, uint64_t* bytes) {
  const char* op = "tao_cusparselt_packed_size";
  TAO_TRY(cuda_only(ctx, op));
  TAO_TRY(check_weight(op, dtype, n, k));
  if (!bytes) return fail(TAO_ERR_INVALID_ARGUMENT, op, "bytes is NULL");
#ifdef TAO_WITH_CUDA
  return cuda::cusparselt_packed_size(ctx, dtype, n, k, bytes);
#else
  return TAO_ERR_INTERNAL;
#endif
}

extern "C" tao_status tao_cusparselt_pack(tao_ctx* ctx, const void* values, const uint8_t* meta, int32_t dtype, int64_t n,
                                          int64_t k, void* packed) {
  const char* op = "tao_cusparselt_pack";
  TAO_TRY(cuda_only(ctx, op));
  TAO_TRY(check_weight(op, dtype, n, k));
  TAO_TRY(check_buffer(ctx, values, op, "values"));
  TAO_TRY(check_buffer(ctx, meta, op, "meta"));
  TAO_TRY(check_buffer(ctx, packed, op, "packed"));
#ifdef TAO_WITH_CUDA
  return cuda::cusparselt_pack(ctx, values, meta, dtype, n, k, packed);
#else
  return TAO_ERR_INTERNAL;
#endif
}

namespace {
tao_status linear_checked(const char* op, tao_ctx* ctx, const SpltLinearCall& c) {
  TAO_TRY(check_weight(op, c.wdtype, c.n, c.k));
  TAO_TRY(check_mnk(op, c.m, c.n, c.k));
  TAO_TRY(check_buffer(ctx, c.x, op, c.xscale ? "xq" : "x"));
  if (c.xscale) TAO_TRY(check_buffer(ctx, c.xscale, op, "xscale"));
  TAO_TRY(check_buffer(ctx, c.packed, op, "packed"));
  if (c.wscale) TAO_TRY(check_buffer(ctx, c.wscale, op, "wscale"));
  if (c.bias) TAO_TRY(check_buffer(ctx, c.bias, op, "bias"));
  TAO_TRY(check_buffer(ctx, c.y, op, "y"));
#ifdef TAO_WITH_CUDA
  return cuda::linear_cusparselt(ctx, c);
#else
  return TAO_ERR_INTERNAL;
#endif
}
}  // namespace

extern "C" tao_status tao_linear_cusparselt(tao_ctx* ctx, const void* x, const void* packed, const void* bias, void* y,
                                            int32_t dtype, int64_t m, int64_t n, int64_t k) {
  const char* op = "tao_linear_cusparselt";
  TAO_TRY(cuda_only(ctx, op));
  return linear_checked(op, ctx, SpltLinearCall{x, nullptr, packed, nullptr, bias, y, dtype, dtype, m, n, k});
}

extern "C" tao_status tao_linear_int8_cusparselt(tao_ctx* ctx, const int8_t* xq, const float* xscale, const void* packed,
                                                 const float* wscale, const void* bias, void* y, int32_t dtype, int64_t m,
                                                 int64_t n, int64_t k) {
  const char* op = "tao_linear_int8_cusparselt";
  TAO_TRY(cuda_only(ctx, op));
  TAO_TRY(check_float_dtype(op, dtype));
  if (!xscale || !wscale) return fail(TAO_ERR_INVALID_ARGUMENT, op, "%s is NULL", xscale ? "wscale" : "xscale");
  if (k > 131072) return fail(TAO_ERR_INVALID_ARGUMENT, op, "k=%lld: at most 131072, so the int32 sums cannot overflow", (long long)k);
  return linear_checked(op, ctx, SpltLinearCall{xq, xscale, packed, wscale, bias, y, TAO_I8, dtype, m, n, k});
}
