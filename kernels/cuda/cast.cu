// CUDA tao_cast and tao_fill: one thread converts 8 consecutive elements with vector loads and
// stores when both buffers are aligned to those 8 elements, else one element per thread.
#include "../common/backend.h"
#include "../common/convert.h"
#include "../common/dtype_switch.h"
#include "launch.cuh"

namespace tao {
namespace cuda {

namespace {

template <int S, int D, int V>
__global__ void cast_kernel(const typename Dt<S>::T* __restrict__ src, typename Dt<D>::T* __restrict__ dst,
                            uint64_t n) {
  using TS = typename Dt<S>::T;
  using TD = typename Dt<D>::T;
  const uint64_t nvec = n / V;
  for (uint64_t v = global_thread(); v < nvec; v += grid_threads()) {
    const Vec<TS, V> a = *(const Vec<TS, V>*)(src + v * V);
    Vec<TD, V> b;
#pragma unroll
    for (int k = 0; k < V; ++k) b.v[k] = cast_value<S, D>(a.v[k]);
    *(Vec<TD, V>*)(dst + v * V) = b;
  }
  const uint64_t t = global_thread(), tail = n - nvec * V;
  if (t < tail) dst[nvec * V + t] = cast_value<S, D>(src[nvec * V + t]);
}

template <int D>
__global__ void fill_kernel(typename Dt<D>::T* __restrict__ dst, uint64_t n, float value) {
  const auto v = Dt<D>::from_f32(value);
  for (uint64_t i = global_thread(); i < n; i += grid_threads()) dst[i] = v;
}

template <int S, int D>
void launch_cast(tao_ctx* ctx, const void* src, void* dst, uint64_t n) {
  using TS = typename Dt<S>::T;
  using TD = typename Dt<D>::T;
  constexpr int V = 8;
  if (aligned_to(src, alignof(Vec<TS, V>)) && aligned_to(dst, alignof(Vec<TD, V>))) {
    cast_kernel<S, D, V><<<grid_for(ctx, n / V + V, 256), 256, 0, stream_of(ctx)>>>((const TS*)src, (TD*)dst, n);
  } else {
    cast_kernel<S, D, 1><<<grid_for(ctx, n, 256), 256, 0, stream_of(ctx)>>>((const TS*)src, (TD*)dst, n);
  }
}

}  // namespace

tao_status cast(tao_ctx* ctx, const void* src, int src_dtype, void* dst, int dst_dtype, uint64_t n) {
  TAO_TRY(use_device(ctx, "tao_cast"));
  TAO_SWITCH_ALL(src_dtype, S, TAO_SWITCH_ALL(dst_dtype, D, launch_cast<S, D>(ctx, src, dst, n)));
  return check_launch("tao_cast");
}

tao_status fill(tao_ctx* ctx, void* dst, int dtype, uint64_t n, float value) {
  TAO_TRY(use_device(ctx, "tao_fill"));
  TAO_SWITCH_ALL(dtype, D,
                 fill_kernel<D><<<grid_for(ctx, n, 256), 256, 0, stream_of(ctx)>>>((typename Dt<D>::T*)dst, n, value));
  return check_launch("tao_fill");
}

}  // namespace cuda
}  // namespace tao
