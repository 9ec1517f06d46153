// CUDA tao_binary: a grid-stride loop, 8 elements per thread with vector loads and stores when all
// three buffers are aligned to them, else one element per thread.
#include "../common/convert.h"
#include "../common/dtype_switch.h"
#include "../common/llama_ops.h"
#include "launch.cuh"

namespace tao {
namespace cuda {

namespace {
template <int OP>
__device__ __forceinline__ float binary_op(float a, float b) {
  return OP == TAO_BINARY_ADD ? add_rn(a, b) : OP == TAO_BINARY_MUL ? mul_rn(a, b) : silu_mul(a, b);
}

template <int D, int OP, int V>
__global__ void binary_kernel(const typename Dt<D>::T* a, const typename Dt<D>::T* b, typename Dt<D>::T* y, uint64_t n) {
  using T = typename Dt<D>::T;
  const uint64_t nvec = n / V;
  for (uint64_t i = global_thread(); i < nvec; i += grid_threads()) {
    const Vec<T, V> va = ((const Vec<T, V>*)a)[i], vb = ((const Vec<T, V>*)b)[i];
    Vec<T, V> vy;
#pragma unroll
    for (int e = 0; e < V; ++e) vy.v[e] = Dt<D>::from_f32(binary_op<OP>(Dt<D>::to_f32(va.v[e]), Dt<D>::to_f32(vb.v[e])));
    ((Vec<T, V>*)y)[i] = vy;
  }
  const uint64_t t = global_thread();
  if (t < n - nvec * V) {
    const uint64_t i = nvec * V + t;
    y[i] = Dt<D>::from_f32(binary_op<OP>(Dt<D>::to_f32(a[i]), Dt<D>::to_f32(b[i])));
  }
}

template <int D, int OP>
void launch_binary(tao_ctx* ctx, const void* a, const void* b, void* y, uint64_t n) {
  using T = typename Dt<D>::T;
  constexpr int V = 8;
  if (aligned_to(a, 16) && aligned_to(b, 16) && aligned_to(y, 16))
    binary_kernel<D, OP, V><<<grid_for(ctx, n / V + V, 256), 256, 0, stream_of(ctx)>>>((const T*)a, (const T*)b, (T*)y, n);
  else
    binary_kernel<D, OP, 1><<<grid_for(ctx, n, 256), 256, 0, stream_of(ctx)>>>((const T*)a, (const T*)b, (T*)y, n);
}
}  // namespace

tao_status binary(tao_ctx* ctx, int op, const void* a, const void* b, void* y, int dtype, uint64_t n) {
  TAO_TRY(use_device(ctx, "tao_binary"));
  TAO_SWITCH_WIDE_FLOAT(dtype, D, {
    if (op == TAO_BINARY_ADD) launch_binary<D, TAO_BINARY_ADD>(ctx, a, b, y, n);
    else if (op == TAO_BINARY_MUL) launch_binary<D, TAO_BINARY_MUL>(ctx, a, b, y, n);
    else launch_binary<D, TAO_BINARY_SILU_MUL>(ctx, a, b, y, n);
  });
  return check_launch("tao_binary");
}

}  // namespace cuda
}  // namespace tao
