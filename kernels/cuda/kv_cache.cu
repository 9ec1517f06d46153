// CUDA tao_kv_append and tao_increment_i32. The append reads the position from the device when it
// runs (graph replay) and copies 16-byte units where rows (and the source's row stride) allow it;
// rows that fall outside the cache are not written.
#include "../common/dtype.h"
#include "../common/llama_ops.h"
#include "launch.cuh"

namespace tao {
namespace cuda {

namespace {
// Token rows of `units` U each: src row (b, t) (at (b·seq + t)·src_units) goes to cache row (b, p + t)
// when 0 <= p + t < capacity.
template <class U>
__global__ void kv_append_kernel(const U* __restrict__ k, const U* __restrict__ v, U* k_cache, U* v_cache, int64_t batch,
                                 int64_t seq, int64_t capacity, int64_t units, int64_t src_units, const int32_t* position,
                                 int64_t offset) {
  const int64_t p = (position ? position[0] : 0) + offset;
  const uint64_t items = (uint64_t)(batch * seq * units);
  for (uint64_t i = global_thread(); i < items; i += grid_threads()) {
    const int64_t u = i % units, bt = i / units, t = bt % seq, b = bt / seq;
    const int64_t row = p + t;
    if (row < 0 || row >= capacity) continue;
    const uint64_t dst = ((uint64_t)(b * capacity + row)) * units + u, src = (uint64_t)bt * src_units + u;
    k_cache[dst] = k[src];
    v_cache[dst] = v[src];
  }
}

__global__ void increment_kernel(int32_t* p, int64_t n, int32_t delta) {
  for (uint64_t i = global_thread(); i < (uint64_t)n; i += grid_threads()) p[i] = (int32_t)((uint32_t)p[i] + (uint32_t)delta);
}
}  // namespace

tao_status kv_append(tao_ctx* ctx, const KvAppendCall& c) {
  const char* op = "tao_kv_append";
  TAO_TRY(use_device(ctx, op));
  const int64_t size = dtype_size(c.dtype), row = c.heads * c.head_dim * size, src_row = c.src_stride * size;
  const bool vec = row % 16 == 0 && src_row % 16 == 0 && aligned_to(c.k, 16) && aligned_to(c.v, 16) &&
                   aligned_to(c.k_cache, 16) && aligned_to(c.v_cache, 16);
  const int64_t unit = vec ? 16 : size;
  const unsigned grid = grid_for(ctx, (uint64_t)(c.batch * c.seq * (row / unit)), 256);
  if (vec)
    kv_append_kernel<uint4><<<grid, 256, 0, stream_of(ctx)>>>((const uint4*)c.k, (const uint4*)c.v, (uint4*)c.k_cache,
                                                              (uint4*)c.v_cache, c.batch, c.seq, c.capacity, row / 16,
                                                              src_row / 16, c.position, c.offset);
  else if (unit == 4)
    kv_append_kernel<uint32_t><<<grid, 256, 0, stream_of(ctx)>>>((const uint32_t*)c.k, (const uint32_t*)c.v,
                                                                  (uint32_t*)c.k_cache, (uint32_t*)c.v_cache, c.batch, c.seq,
                                                                  c.capacity, row / 4, src_row / 4, c.position, c.offset);
  else
    kv_append_kernel<uint16_t><<<grid, 256, 0, stream_of(ctx)>>>((const uint16_t*)c.k, (const uint16_t*)c.v,
                                                                  (uint16_t*)c.k_cache, (uint16_t*)c.v_cache, c.batch, c.seq,
                                                                  c.capacity, row / 2, src_row / 2, c.position, c.offset);
  return check_launch(op);
}

tao_status increment_i32(tao_ctx* ctx, int32_t* p, int64_t n, int32_t delta) {
  TAO_TRY(use_device(ctx, "tao_increment_i32"));
  increment_kernel<<<grid_for(ctx, (uint64_t)n, 128), 128, 0, stream_of(ctx)>>>(p, n, delta);
  return check_launch("tao_increment_i32");
}

}  // namespace cuda
}  // namespace tao
