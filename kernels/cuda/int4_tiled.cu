// CUDA pack / unpack / dequantize of the tinygemm int4 layout: one packed word per thread
// (kernels/common/int4_tiled.h). Consecutive threads take consecutive words, so the packed side is
// coalesced; these are layout conversions run once per weight, not the matmul hot path.
#include "../common/backend.h"
#include "../common/int4_tiled.h"
#include "launch.cuh"

namespace tao {
namespace cuda {

namespace {

__global__ void int4_tiled_kernel(Int4Op op, Int4TiledCall c) {
  for (uint64_t w = global_thread(); w < (uint64_t)c.g.words; w += grid_threads()) int4_tiled_step(op, c, (int64_t)w);
}

}  // namespace

tao_status int4_tiled(tao_ctx* ctx, Int4Op op, const Int4TiledCall& c) {
  const char* name = "tao_int4_tensor_core_tiled";
  TAO_TRY(use_device(ctx, name));
  int4_tiled_kernel<<<grid_for(ctx, (uint64_t)c.g.words, 256), 256, 0, stream_of(ctx)>>>(op, c);
  return check_launch(name);
}

}  // namespace cuda
}  // namespace tao
