// CPU tao_embedding: every id is checked before anything is written, then rows are copied in
// parallel.
#include <string.h>

#include "../common/dtype.h"
#include "../common/llama_ops.h"
#include "../common/status.h"
#include "parallel.h"

namespace tao {
namespace cpu {

tao_status embedding(const int32_t* ids, int64_t n, const void* table, int dtype, int64_t vocab, int64_t dim, void* out) {
  for (int64_t i = 0; i < n; ++i)
    if (ids[i] < 0 || ids[i] >= vocab)
      return fail(TAO_ERR_INVALID_ARGUMENT, "tao_embedding", "ids[%lld]=%d is outside the vocabulary 0..%lld", (long long)i,
                  ids[i], (long long)vocab - 1);
  const uint64_t row = (uint64_t)dim * dtype_size(dtype);
  parallel_for((uint64_t)n, 1 + (1u << 16) / row, [&](uint64_t b, uint64_t e) {
    for (uint64_t i = b; i < e; ++i) memcpy((char*)out + i * row, (const char*)table + (uint64_t)ids[i] * row, row);
  });
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
