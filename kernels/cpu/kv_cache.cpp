// CPU tao_kv_append and tao_increment_i32: the write range is checked against the capacity, then
// token rows are copied (the source's rows may be strided).
#include <string.h>

#include "../common/dtype.h"
#include "../common/llama_ops.h"
#include "../common/status.h"

namespace tao {
namespace cpu {

tao_status kv_append(const KvAppendCall& c) {
  const int64_t p = (c.position ? c.position[0] : 0) + c.offset;
  if (p < 0 || p + c.seq > c.capacity)
    return fail(TAO_ERR_INVALID_ARGUMENT, "tao_kv_append", "rows %lld..%lld are outside the cache's 0..%lld", (long long)p,
                (long long)(p + c.seq - 1), (long long)c.capacity - 1);
  const uint64_t size = dtype_size(c.dtype), row = (uint64_t)(c.heads * c.head_dim) * size;
  for (int64_t b = 0; b < c.batch; ++b)
    for (int64_t t = 0; t < c.seq; ++t) {
      const uint64_t dst = ((uint64_t)b * c.capacity + p + t) * row, src = (uint64_t)(b * c.seq + t) * c.src_stride * size;
      memcpy((char*)c.k_cache + dst, (const char*)c.k + src, row);
      memcpy((char*)c.v_cache + dst, (const char*)c.v + src, row);
    }
  return TAO_OK;
}

tao_status increment_i32(int32_t* p, int64_t n, int32_t delta) {
  for (int64_t i = 0; i < n; ++i) p[i] = (int32_t)((uint32_t)p[i] + (uint32_t)delta);
  return TAO_OK;
}

}  // namespace cpu
}  // namespace tao
