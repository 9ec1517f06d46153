// Launch helpers: cached multiprocessor counts and device selection.
#include "launch.cuh"

namespace tao {
namespace cuda {

int sm_count(int device) {
  static int cache[64] = {0};
  if (device < 0 || device >= 64) return 132;
  if (!cache[device]) {
    int n = 0;
    if (cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device) != cudaSuccess || n <= 0) {
      cudaGetLastError();
      n = 108;
    }
    cache[device] = n;
  }
  return cache[device];
}

tao_status use_device(tao_ctx* ctx, const char* op) {
  cudaError_t e = cudaSetDevice(ctx->device);
  if (e != cudaSuccess) {
    cudaGetLastError();
    return fail(TAO_ERR_CUDA, op, "cudaSetDevice(%d): %s", ctx->device, cudaGetErrorString(e));
  }
  return TAO_OK;
}

}  // namespace cuda
}  // namespace tao
