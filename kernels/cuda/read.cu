// CUDA tao_read: a read-only pass over a buffer (the clean L2 flush of the benchmarks).
#include "../common/backend.h"
#include "device.h"
#include "launch.cuh"
#include "read_kernel.cuh"

namespace tao {
namespace cuda {

tao_status read(tao_ctx* ctx, const void* ptr, uint64_t bytes) {
  TAO_TRY(use_device(ctx, "tao_read"));
  read_kernel<<<grid_for(ctx, bytes / 16, 256), 256, 0, stream_of(ctx)>>>((const uint4*)ptr, bytes / 16, nullptr);
  return check_launch("tao_read");
}

}  // namespace cuda
}  // namespace tao
