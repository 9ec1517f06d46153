// CUDA tao_gptq_hessian: h = beta·h + alpha·xᵀx as one tiled GEMM (gptq_gemm.cuh) with both operands
// read from x [rows, k] along its rows (the reduction index strided), widened to f32 while staged.
#include "../common/dtype_switch.h"
#include "../common/gptq.h"
#include "gptq_gemm.cuh"

namespace tao {
namespace cuda {

tao_status gptq_hessian(tao_ctx* ctx, const GptqHessianCall& c) {
  const char* op = "tao_gptq_hessian";
  TAO_TRY(use_device(ctx, op));
  tao_status s = TAO_OK;
  TAO_SWITCH_WIDE_FLOAT(c.dtype, D, {
    using E = typename Dt<D>::T;
    const gptq::GemmArgs<float, E> g{(const E*)c.x, (const E*)c.x, c.h, c.k, c.k, c.rows, c.k, c.k, c.k, c.alpha, c.beta, false};
    s = gptq::gemm<float, gptq::Wide<D>, true, true>(ctx, op, g);
  });
  return s;
}

}  // namespace cuda
}  // namespace tao
