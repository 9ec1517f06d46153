// cuBLASLt and cuSPARSELt, loaded with dlopen on first use so libtao.so loads without them.
#pragma once
#include <string>

#include "../common/context.h"
#include "tao.h"

namespace tao {
namespace cuda {

// Creates the context's handles for the TAO_MATHLIB_* bits in `which` (idempotent).
tao_status mathlibs_init(tao_ctx* ctx, int which);
// Destroys the context's handles and workspace.
void mathlibs_release(tao_ctx* ctx);
// Appends "cublaslt":{...},"cusparselt":{...} to a JSON object under construction.
void mathlibs_capabilities_json(std::string& out);

}  // namespace cuda
}  // namespace tao
