// CUDA tao_strided_copy: one thread per output element decodes its index into the source offset.
#include "../common/backend.h"
#include "launch.cuh"

namespace tao {
namespace cuda {

namespace {

template <class T>
__global__ void strided_copy_kernel(const T* __restrict__ src, T* __restrict__ dst, StridedCopy sc) {
  for (uint64_t i = global_thread(); i < sc.numel; i += grid_threads()) {
    uint64_t rem = i;
    int64_t off = 0;
    for (int d = sc.ndim - 1; d >= 0; --d) {
      off += (int64_t)(rem % (uint64_t)sc.shape[d]) * sc.strides[d];
      rem /= (uint64_t)sc.shape[d];
    }
    dst[i] = src[off];
  }
}

}  // namespace

tao_status strided_copy(tao_ctx* ctx, const void* src, void* dst, const StridedCopy& sc) {
  TAO_TRY(use_device(ctx, "tao_strided_copy"));
  const unsigned grid = grid_for(ctx, sc.numel, 256);
  switch (sc.elem_size) {
    case 1: strided_copy_kernel<<<grid, 256, 0, stream_of(ctx)>>>((const uint8_t*)src, (uint8_t*)dst, sc); break;
    case 2: strided_copy_kernel<<<grid, 256, 0, stream_of(ctx)>>>((const uint16_t*)src, (uint16_t*)dst, sc); break;
    default: strided_copy_kernel<<<grid, 256, 0, stream_of(ctx)>>>((const uint32_t*)src, (uint32_t*)dst, sc); break;
  }
  return check_launch("tao_strided_copy");
}

}  // namespace cuda
}  // namespace tao
