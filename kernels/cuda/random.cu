// CUDA tao_fill_random: element i = f(seed, offset + i) with the same host/device code as the CPU
// backend (kernels/common/random.h), so both give identical bits.
#include "../common/backend.h"
#include "../common/convert.h"
#include "../common/dtype_switch.h"
#include "../common/random.h"
#include "launch.cuh"

namespace tao {
namespace cuda {

namespace {

template <int D>
__global__ void random_kernel(typename Dt<D>::T* __restrict__ dst, uint64_t n, uint64_t seed, uint64_t offset,
                              int dist, double a, double b) {
  for (uint64_t i = global_thread(); i < n; i += grid_threads()) {
    const float v = dist == TAO_RANDOM_NORMAL ? random_normal(seed, offset + i, a, b)
                                              : random_uniform(seed, offset + i, a, b);
    dst[i] = Dt<D>::from_f32(v);
  }
}

}  // namespace

tao_status fill_random(tao_ctx* ctx, void* dst, int dtype, uint64_t n, uint64_t seed, uint64_t offset,
                       int distribution, double a, double b) {
  TAO_TRY(use_device(ctx, "tao_fill_random"));
  TAO_SWITCH_FLOAT(dtype, D,
                   random_kernel<D><<<grid_for(ctx, n, 256), 256, 0, stream_of(ctx)>>>(
                       (typename Dt<D>::T*)dst, n, seed, offset, distribution, a, b));
  return check_launch("tao_fill_random");
}

}  // namespace cuda
}  // namespace tao
