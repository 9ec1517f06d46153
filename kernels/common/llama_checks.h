// Argument checks shared by the transformer-op entry points (api_llama_ops.cpp, api_attention.cpp,
// api_sampling.cpp).
#pragma once
#include <initializer_list>

#include "checks.h"
#include "dtype.h"
#include "status.h"

namespace tao {

// Each size in `sizes` (named by `names`, comma-separated in one string) is in 1..2^31 and their
// product stays below 2^62 elements.
inline tao_status check_sizes(const char* op, const char* names, std::initializer_list<int64_t> sizes) {
  double product = 1;
  for (int64_t s : sizes) {
    if (s < 1 || s > (1LL << 31))
      return fail(TAO_ERR_INVALID_ARGUMENT, op, "sizes (%s) must each be in 1..2^31; got %lld", names, (long long)s);
    product *= (double)s;
  }
  if (product > 4e18) return fail(TAO_ERR_INVALID_ARGUMENT, op, "sizes (%s) too large", names);
  return TAO_OK;
}

// An optional buffer (position buffers, positions): NULL, or on ctx's device.
inline tao_status check_optional(tao_ctx* ctx, const void* p, const char* op, const char* name) {
  return p ? check_buffer(ctx, p, op, name) : TAO_OK;
}

// The distance `stride` (elements) between consecutive rows of `row` elements, `rows` rows in all:
// at least `row`, and the span it gives stays below 2^62 elements.
inline tao_status check_row_stride(const char* op, const char* name, int64_t stride, int64_t row, int64_t rows) {
  if (stride < row || (double)stride * (double)rows > 4e18)
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "%s=%lld must be at least the row's %lld elements (and not huge)", name,
                (long long)stride, (long long)row);
  return TAO_OK;
}

// A position offset: in 0..2^31.
inline tao_status check_offset(const char* op, const char* name, int64_t v) {
  if (v < 0 || v > (1LL << 31)) return fail(TAO_ERR_INVALID_ARGUMENT, op, "%s=%lld must be in 0..2^31", name, (long long)v);
  return TAO_OK;
}

}  // namespace tao
