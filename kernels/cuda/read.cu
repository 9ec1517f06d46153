// CUDA tao_read: a read-only pass over a buffer (the clean L2 flush of the benchmarks).
#include "../common/backend.h"
#include "device.h"
#include "launch.cuh"

namespace tao {
namespace cuda {

namespace {

// Each thread loads 16-byte vectors (4 in flight) and discards them: the volatile loads stay.
__global__ void read_kernel(const uint4* __restrict__ p, uint64_t n) {
  const uint64_t stride = grid_threads();
  for (uint64_t i = global_thread(); i < n; i += 4 * stride) {
#pragma unroll
    for (int u = 0; u < 4; ++u) {
      const uint64_t j = i + u * stride;
      if (j < n) asm volatile("{\n.reg .b32 a, b, c, d;\nld.global.v4.u32 {a, b, c, d}, [%0];\n}\n" ::"l"(p + j));
    }
  }
}

}  // namespace

tao_status read(tao_ctx* ctx, const void* ptr, uint64_t bytes) {
  TAO_TRY(use_device(ctx, "tao_read"));
  read_kernel<<<grid_for(ctx, bytes / 16, 256), 256, 0, stream_of(ctx)>>>((const uint4*)ptr, bytes / 16);
  return check_launch("tao_read");
}

}  // namespace cuda
}  // namespace tao
