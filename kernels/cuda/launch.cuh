// Launch helpers shared by the CUDA kernels: the context's stream, grid sizes for grid-stride
// loops, aligned vector access and the "select the device, launch, check" sequence.
#pragma once
#include <cuda_runtime.h>
#include <stdint.h>

#include "../common/context.h"
#include "../common/status.h"
#include "device.h"

namespace tao {
namespace cuda {

inline cudaStream_t stream_of(tao_ctx* ctx) { return (cudaStream_t)ctx->stream; }

// Multiprocessor count of a device (cached).
int sm_count(int device);
// Compute capability of a device as 10·major + minor (cached; 0 when unknown).
int compute_capability(int device);

// Blocks for a grid-stride loop over `items` with `threads` per block: enough to fill the chip
// (16 resident blocks per SM), never more than the work needs.
inline unsigned grid_for(tao_ctx* ctx, uint64_t items, int threads) {
  const uint64_t need = (items + threads - 1) / threads;
  const uint64_t cap = (uint64_t)sm_count(ctx->device) * 16;
  return (unsigned)(need < cap ? (need ? need : 1) : cap);
}

// Makes ctx's device current for the launches that follow.
tao_status use_device(tao_ctx* ctx, const char* op);

__device__ __forceinline__ uint64_t global_thread() {
  return (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ uint64_t grid_threads() { return (uint64_t)gridDim.x * blockDim.x; }

// N values of T as one aligned unit, so loads and stores become 4/8/16-byte vector accesses.
template <class T, int N>
struct alignas(sizeof(T) * N <= 16 ? sizeof(T) * N : 16) Vec {
  T v[N];
};

inline bool aligned_to(const void* p, uint64_t bytes) { return ((uintptr_t)p % bytes) == 0; }

}  // namespace cuda
}  // namespace tao
