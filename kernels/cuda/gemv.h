// The dense m = 1 product of tao_linear on CUDA (gemv.cu): linear() takes it for bf16/f16 calls that
// meet its layout needs, cuBLASLt otherwise.
#pragma once
#include "../common/backend.h"

namespace tao {
namespace cuda {

// Whether gemv() can run c: bf16/f16, m = 1, k % 8 == 0, x and w 16-byte aligned.
bool gemv_usable(const LinearCall& c);
// y = x · wᵀ (+ bias) with one warp per output column (gemv.cu says how).
tao_status gemv(tao_ctx* ctx, const LinearCall& c);

}  // namespace cuda
}  // namespace tao
