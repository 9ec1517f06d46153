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
// The context's cuBLASLt handle and workspace, created on first use; a library that cannot be
// loaded is TAO_ERR_UNAVAILABLE naming it, reported as coming from `op`.
struct LtHandle {
  void* handle;  // cublasLtHandle_t
  void* workspace;
  size_t workspace_bytes;
};
tao_status cublaslt_handle(tao_ctx* ctx, const char* op, LtHandle* out);
// Address of a cuBLASLt function (NULL when the library is not loaded or lacks it).
void* cublaslt_symbol(const char* name);
// The context's cuSPARSELt handle (cusparseLtHandle_t*), created on first use; a library that
// cannot be loaded is TAO_ERR_UNAVAILABLE naming it, reported as coming from `op`.
tao_status cusparselt_handle(tao_ctx* ctx, const char* op, void** out);
// Address of a cuSPARSELt function (NULL when the library is not loaded or lacks it).
void* cusparselt_symbol(const char* name);
// Destroys the context's cached cuSPARSELt plans (cusparselt_linear.cu); mathlibs_release calls it.
void cusparselt_plans_release(tao_ctx* ctx);
// Appends "cublaslt":{...},"cusparselt":{...} to a JSON object under construction.
void mathlibs_capabilities_json(std::string& out);

}  // namespace cuda
}  // namespace tao
