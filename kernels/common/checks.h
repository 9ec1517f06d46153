// Argument checks shared by the entry points.
#pragma once
#include "context.h"
#include "tao.h"

namespace tao {

// ctx is not NULL.
tao_status check_ctx(tao_ctx* ctx, const char* op);
// p is not NULL and lives on ctx's device (see cuda::check_pointer).
tao_status check_buffer(tao_ctx* ctx, const void* p, const char* op, const char* name);

}  // namespace tao
