// The W8A8 epilogue of include/tao.h, shared by the dense int8 GEMM (w8a8.cu) and the 2:4 one
// (cusparselt_linear.cu): y rows [r0, r0 + rows) of c = dtype(((float)acc · (xscale · wscale)) + bias)
// from int32 sums acc [rows][ldacc] (ldacc >= n), on the context's stream, launch checked for `op`.
#pragma once
#include "../common/backend.h"

namespace tao {
namespace cuda {

tao_status w8a8_epilogue(tao_ctx* ctx, const W8A8Call& c, const int32_t* acc, int64_t ldacc, int64_t r0, int64_t rows,
                         const char* op);

}  // namespace cuda
}  // namespace tao
