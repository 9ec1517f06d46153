// The W8A8 epilogues of include/tao.h, shared by the dense int8 GEMM (w8a8.cu) and the 2:4 one
// (cusparselt_linear.cu), on the context's stream, launch checked for `op`. w8a8_epilogue: y rows
// [r0, r0 + rows) of c = dtype(((float)acc · (xscale · wscale)) + bias) from int32 sums acc
// [rows][ldacc] (ldacc >= n).
#pragma once
#include "../common/backend.h"

namespace tao {
namespace cuda {

tao_status w8a8_epilogue(tao_ctx* ctx, const W8A8Call& c, const int32_t* acc, int64_t ldacc, int64_t r0, int64_t rows,
                         const char* op);

// The same for 16-bit y from cuSPARSELt's bf16 D [m][ldacc] = bf16(wscale[j] · acc) (its alpha vector):
// y = dtype(((float)D · xscale[i]) + bias[j]). D may be y itself (bf16 y, ldacc = n).
tao_status w8a8_epilogue_scaled(tao_ctx* ctx, const W8A8Call& c, const uint16_t* acc, int64_t ldacc, const char* op);

}  // namespace cuda
}  // namespace tao
