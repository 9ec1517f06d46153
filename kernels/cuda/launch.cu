// Launch helpers: cached multiprocessor counts, compute capabilities and device selection.
#include "launch.cuh"
#include "weight_wgmma_gemm.cuh"

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

int compute_capability(int device) {
  static int cache[64] = {0};
  if (device < 0 || device >= 64) return 0;
  if (!cache[device]) {
    int major = 0, minor = 0;
    if (cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess ||
        cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device) != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    cache[device] = 10 * major + minor;
  }
  return cache[device];
}

namespace wg {
bool wgmma_usable(tao_ctx* ctx, const void* x, const void* y, const void* w, const void* groups, int64_t m, int64_t n, int64_t k) {
#if defined(TAO_HAVE_SM90A)
  return compute_capability(ctx->device) == 90 && aligned_to(x, 16) && aligned_to(y, 16) && aligned_to(w, 16) &&
         aligned_to(groups, 16) && n % 8 == 0 && k % 8 == 0 &&
         m * k < (int64_t(1) << 31) - 16 * k;
#else
  return false;
#endif
}
}  // namespace wg

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
