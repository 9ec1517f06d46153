// The read-only pass of tao_read (the benchmarks' L2 flush), shared with bench/native/gemv_probe.cu.
#pragma once
#include <stdint.h>

namespace tao {
namespace cuda {

// Each thread loads 16-byte vectors (4 in flight) and folds them into one word, stored only when sink
// is non-null and the word equals a constant: callers pass null, the compiler cannot know it, so the
// loads stay. (Loads whose values go unused, even from volatile asm, are removed by ptxas: the first
// version of this kernel read nothing, so the benchmarks' "clean L2 flush" left L2 as it was.)
__global__ void read_kernel(const uint4* __restrict__ p, uint64_t n, uint32_t* sink) {
  const uint64_t stride = (uint64_t)gridDim.x * blockDim.x;
  uint32_t fold = 0;
  for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += 4 * stride) {
    uint4 v[4];
#pragma unroll
    for (int u = 0; u < 4; ++u) v[u] = i + u * stride < n ? p[i + u * stride] : make_uint4(0, 0, 0, 0);
#pragma unroll
    for (int u = 0; u < 4; ++u) fold ^= v[u].x ^ v[u].y ^ v[u].z ^ v[u].w;
  }
  if (sink != nullptr && fold == 0x9E3779B9u) *sink = fold;
}

}  // namespace cuda
}  // namespace tao
