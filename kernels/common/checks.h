// Argument checks shared by the entry points.
#pragma once
#include "context.h"
#include "tao.h"

namespace tao {

// ctx is not NULL.
tao_status check_ctx(tao_ctx* ctx, const char* op);
// p is not NULL and lives on ctx's device (see cuda::check_pointer).
tao_status check_buffer(tao_ctx* ctx, const void* p, const char* op, const char* name);
// dtype is TAO_F32, TAO_F16 or TAO_BF16.
tao_status check_float_dtype(const char* op, int64_t dtype);
// A matrix product's sizes: each in 1..2^31, each pairwise product of element counts addressable.
tao_status check_mnk(const char* op, int64_t m, int64_t n, int64_t k);

}  // namespace tao
