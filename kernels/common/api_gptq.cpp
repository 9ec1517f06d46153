// Entry points of GPTQ: tao_gptq_hessian, tao_gptq_factor, tao_gptq_quantize (+ tao_gptq_args_size).
// Each validates, then runs the context's backend.
#include <math.h>

#include "backend.h"
#include "checks.h"
#include "gptq.h"
#include "status.h"

using namespace tao;

extern "C" {

tao_status tao_gptq_hessian(tao_ctx* ctx, const void* x, int32_t dtype, int64_t rows, int64_t k, float* h, double alpha,
                            double beta) {
  const char* op = "tao_gptq_hessian";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_float_dtype(op, dtype));
  TAO_TRY(check_mnk(op, rows, k, k));
  if (!isfinite(alpha) || !isfinite(beta))
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "alpha=%g and beta=%g must be finite", alpha, beta);
  TAO_TRY(check_buffer(ctx, x, op, "x"));
  TAO_TRY(check_buffer(ctx, h, op, "h"));
  const GptqHessianCall c{x, dtype, rows, k, h, (float)alpha, (float)beta};
  TAO_DISPATCH(ctx, cpu::gptq_hessian(c), cuda::gptq_hessian(ctx, c));
}

tao_status tao_gptq_factor(tao_ctx* ctx, const float* h, int64_t k, double percdamp, int32_t act_order, int32_t* perm,
                           float* u, int32_t* info) {
  const char* op = "tao_gptq_factor";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_mnk(op, k, k, 1));
  if (!(percdamp >= 0.0 && percdamp < 1.0)) return fail(TAO_ERR_INVALID_ARGUMENT, op, "percdamp=%g must be in [0, 1)", percdamp);
  if (act_order != 0 && act_order != 1) return fail(TAO_ERR_INVALID_ARGUMENT, op, "act_order=%d must be 0 or 1", act_order);
  if (act_order && !perm) return fail(TAO_ERR_INVALID_ARGUMENT, op, "act_order needs perm");
  TAO_TRY(check_buffer(ctx, h, op, "h"));
  if (perm) TAO_TRY(check_buffer(ctx, perm, op, "perm"));
  TAO_TRY(check_buffer(ctx, u, op, "u"));
  TAO_TRY(check_buffer(ctx, info, op, "info"));
  const GptqFactorCall c{h, k, percdamp, act_order == 1, perm, u, info};
  TAO_DISPATCH(ctx, cpu::gptq_factor(c), cuda::gptq_factor(ctx, c));
}

tao_status tao_gptq_args_size(int64_t* out) {
  if (!out) return fail(TAO_ERR_INVALID_ARGUMENT, "tao_gptq_args_size", "out is NULL");
  *out = (int64_t)sizeof(tao_gptq_args);
  return TAO_OK;
}

tao_status tao_gptq_quantize(tao_ctx* ctx, const tao_gptq_args* a) {
  const char* op = "tao_gptq_quantize";
  TAO_TRY(check_ctx(ctx, op));
  if (!a) return fail(TAO_ERR_INVALID_ARGUMENT, op, "args is NULL");
  TAO_TRY(check_float_dtype(op, a->w_dtype));
  TAO_TRY(check_mnk(op, a->n, a->k, a->k));
  if (a->group_size < 1 || a->k % a->group_size)
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "group_size=%lld must divide k=%lld", (long long)a->group_size, (long long)a->k);
  if (a->block_size < 1 || a->block_size % a->group_size || a->block_size > kGptqMaxBlock)
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "block_size=%lld must be a multiple of group_size=%lld, at most %lld",
                (long long)a->block_size, (long long)a->group_size, (long long)kGptqMaxBlock);
  if (a->static_groups != 0 && a->static_groups != 1)
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "static_groups=%lld must be 0 or 1", (long long)a->static_groups);
  if (a->bits < 1 || a->bits > kGptqMaxBits)
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "bits=%lld must be 1..%d", (long long)a->bits, kGptqMaxBits);
  if (a->perm && !a->static_groups) return fail(TAO_ERR_INVALID_ARGUMENT, op, "a column order (perm) needs static_groups");
  TAO_TRY(check_buffer(ctx, a->w, op, "w"));
  TAO_TRY(check_buffer(ctx, a->h, op, "h"));
  TAO_TRY(check_buffer(ctx, a->u, op, "u"));
  if (a->perm) TAO_TRY(check_buffer(ctx, a->perm, op, "perm"));
  TAO_TRY(check_buffer(ctx, a->q, op, "q"));
  TAO_TRY(check_buffer(ctx, a->scale, op, "scale"));
  TAO_TRY(check_buffer(ctx, a->zero, op, "zero"));
  const GptqSweepCall c{a->w, (int)a->w_dtype, a->h, a->u, a->perm, a->n, a->k, a->group_size, a->block_size,
                        a->static_groups == 1, (int)a->bits, a->q, a->scale, a->zero};
  TAO_DISPATCH(ctx, cpu::gptq_quantize(c), cuda::gptq_quantize(ctx, c));
}

}  // extern "C"
