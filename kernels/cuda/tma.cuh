// Hopper bulk tensor copies (TMA, sm_90) completing on shared-memory mbarriers, and the host side
// that encodes tensor maps: the copy side of the pipelined wgmma kernel (weight_wgmma_gemm.cuh) and
// of the weight policies it stages (int4_tiled_policy.cuh).
#pragma once
#include <cuda.h>
#include <cuda_runtime.h>
#include <stdint.h>

namespace tao {
namespace cuda {
namespace tma {

// Initializes the mbarrier at shared address `bar` to expect `count` arrivals per phase.
__device__ __forceinline__ void init(uint32_t bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
// Makes the initializations visible to the async proxy (the copy engine) before first use.
__device__ __forceinline__ void fence_init() { asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"); }
// One arrival that also announces `bytes` of copies completing on the barrier this phase.
__device__ __forceinline__ void arrive_expect_tx(uint32_t bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void arrive(uint32_t bar) { asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory"); }
// Waits until the phase with this parity (0 or 1) of the barrier has completed.
__device__ __forceinline__ void wait(uint32_t bar, uint32_t parity) {
  uint32_t done = 0;
  while (!done)
    asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
                 : "=r"(done)
                 : "r"(bar), "r"(parity)
                 : "memory");
}
// Copies the box at coordinates (c0 innermost, c1) of the 2-D tensor `map` into shared memory at
// `dst`, completing `bar`'s transaction bytes. Out-of-bounds elements arrive as zeros.
__device__ __forceinline__ void load_2d(uint32_t dst, const CUtensorMap* map, int32_t c0, int32_t c1, uint32_t bar) {
  asm volatile("cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(dst),
               "l"((uint64_t)map), "r"(c0), "r"(c1), "r"(bar)
               : "memory");
}

// Encodes the tensor map of a row-major [rows, cols] matrix of `type` elements at `base` (16-byte
// aligned, row_bytes apart, a multiple of 16), copied in boxes of box_rows × box_cols with `swizzle`.
// The driver's encoder is looked up once through the runtime. Returns a CUDA error code
// (CUDA_SUCCESS on success) and what failed.
inline CUresult encode_2d(CUtensorMap* map, CUtensorMapDataType type, const void* base, uint64_t rows, uint64_t cols,
                          uint64_t row_bytes, uint32_t box_rows, uint32_t box_cols, CUtensorMapSwizzle swizzle, const char** what) {
  using Encode = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*, const cuuint64_t*,
                              const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle,
                              CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
  static Encode encode = nullptr;
  if (!encode) {
    cudaDriverEntryPointQueryResult found;
    void* fn = nullptr;
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &found) != cudaSuccess ||
        found != cudaDriverEntryPointSuccess || !fn) {
      cudaGetLastError();
      *what = "the driver has no cuTensorMapEncodeTiled";
      return CUDA_ERROR_NOT_FOUND;
    }
    encode = (Encode)fn;
  }
  const cuuint64_t dims[2] = {cols, rows}, strides[1] = {row_bytes};
  const cuuint32_t box[2] = {box_cols, box_rows}, elem_strides[2] = {1, 1};
  *what = "cuTensorMapEncodeTiled";
  return encode(map, type, 2, const_cast<void*>(base), dims, strides, box, elem_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, swizzle,
                CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
}

// The tensor map of a row-major [rows, cols] matrix of 16-bit elements (cols a multiple of 8), in
// boxes of box_rows × 64 columns (128 bytes) with the 128-byte swizzle wgmma's K-major B descriptors
// read (wgmma.cuh).
inline CUresult encode_rows_swizzle128(CUtensorMap* map, const void* base, uint64_t rows, uint64_t cols, uint32_t box_rows,
                                       const char** what) {
  return encode_2d(map, CU_TENSOR_MAP_DATA_TYPE_UINT16, base, rows, cols, cols * 2, box_rows, 64, CU_TENSOR_MAP_SWIZZLE_128B, what);
}

}  // namespace tma
}  // namespace cuda
}  // namespace tao
