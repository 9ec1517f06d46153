// CUDA tao_rms_norm: one block per row (grid-stride over rows); each thread sums squares of its
// strided elements in f32, a warp-shuffle + shared-memory reduction gives the row's sum, then the
// row is read again (from L1/L2) and written as x · inv · w.
#include "../common/convert.h"
#include "../common/dtype_switch.h"
#include "../common/llama_ops.h"
#include "launch.cuh"

namespace tao {
namespace cuda {

namespace {
constexpr int kThreads = 256;

// Sum of v over the block (every thread gets it).
__device__ float block_sum(float v) {
  __shared__ float warp_sums[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  __syncthreads();  // warp_sums is free (previous row done)
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = v;
  __syncthreads();
  float s = 0;
  for (int w = 0; w < kThreads / 32; ++w) s += warp_sums[w];
  return s;
}

template <int D>
__global__ void __launch_bounds__(kThreads) rms_norm_kernel(const typename Dt<D>::T* __restrict__ x,
                                                            const typename Dt<D>::T* __restrict__ w,
                                                            typename Dt<D>::T* y, int64_t rows, int64_t dim, float eps) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const auto* xr = x + r * dim;
    float ss = 0;
    for (int64_t j = threadIdx.x; j < dim; j += kThreads) {
      const float v = Dt<D>::to_f32(xr[j]);
      ss = fma_f(v, v, ss);
    }
    const float inv = div_rn(1.0f, __fsqrt_rn(add_rn(div_rn(block_sum(ss), (float)dim), eps)));
    for (int64_t j = threadIdx.x; j < dim; j += kThreads)
      y[r * dim + j] = Dt<D>::from_f32(mul_rn(mul_rn(Dt<D>::to_f32(xr[j]), inv), Dt<D>::to_f32(w[j])));
  }
}
}  // namespace

tao_status rms_norm(tao_ctx* ctx, const void* x, const void* w, void* y, int dtype, int64_t rows, int64_t dim, float eps) {
  const char* op = "tao_rms_norm";
  TAO_TRY(use_device(ctx, op));
  const unsigned grid = (unsigned)(rows < 65535 ? rows : 65535);
  TAO_SWITCH_WIDE_FLOAT(dtype, D, {
    using T = typename Dt<D>::T;
    rms_norm_kernel<D><<<grid, kThreads, 0, stream_of(ctx)>>>((const T*)x, (const T*)w, (T*)y, rows, dim, eps);
  });
  return check_launch(op);
}

}  // namespace cuda
}  // namespace tao
