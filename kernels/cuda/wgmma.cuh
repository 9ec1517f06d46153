// Hopper warpgroup MMA (wgmma, sm_90a) with A from registers and B from shared memory:
// D[64 x N] += A[64 x 16] · B[16 x N], f32 accumulators. Each warp w of the warpgroup holds rows
// 16w..16w+15 of A in mma.m16n8k16's A-fragment layout (4 registers of two halves: (g, 2q), (g + 8, 2q),
// (g, 2q + 8), (g + 8, 2q + 8) for lane 4g + q), and d[4j + e] is row 16w + g + 8(e / 2), column
// 8j + 2q + e % 2. B is K-major (each of its N columns has its 16 k contiguous) in 128-byte swizzled
// rows (Swizzle<3, 4, 3>: the 16-byte chunk c of row r sits at chunk c ^ (r % 8)), 8-row groups 1024
// bytes apart, the tile 1024-byte aligned.
#pragma once
#include <stdint.h>

#include "tao.h"

namespace tao {
namespace cuda {
namespace wgmma {

// Shared-memory descriptor of a K-major, 128-byte-swizzled B tile starting at byte address `addr`
// (the k offset within a 64-k row is added to addr: 32 bytes per 16 k).
__device__ __forceinline__ uint64_t desc_b128(uint32_t addr) {
  return (uint64_t)((addr & 0x3FFFF) >> 4) | (1ull << 16) | ((uint64_t)(1024 >> 4) << 32) | (1ull << 62);
}
// Orders this thread's earlier register writes before the warpgroup's next wgmma reads them.
__device__ __forceinline__ void fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
// Waits until at most N committed groups of this warpgroup are still running.
template <int N>
__device__ __forceinline__ void wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Keeps the compiler from moving accesses of accumulator v across a wgmma boundary.
__device__ __forceinline__ void fence_operand(uint32_t& v) { asm volatile("" : "+r"(v)::"memory"); }

// wgmma operand lists: accumulator placeholders and outputs for N = 32, 64 and 128 (N / 2 per thread).
#define TAO_WGMMA_REGS16 "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15"
#define TAO_WGMMA_REGS32 TAO_WGMMA_REGS16 ", %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
#define TAO_WGMMA_REGS64 TAO_WGMMA_REGS32 ", %32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
#define TAO_WGMMA_AB16 "{%16, %17, %18, %19}, %20"
#define TAO_WGMMA_AB32 "{%32, %33, %34, %35}, %36"
#define TAO_WGMMA_AB64 "{%64, %65, %66, %67}, %68"
#define TAO_WGMMA_OUT_AT(i) \
  "+r"(d[i]), "+r"(d[i + 1]), "+r"(d[i + 2]), "+r"(d[i + 3]), "+r"(d[i + 4]), "+r"(d[i + 5]), "+r"(d[i + 6]), "+r"(d[i + 7])
#define TAO_WGMMA_OUT16 TAO_WGMMA_OUT_AT(0), TAO_WGMMA_OUT_AT(8)
#define TAO_WGMMA_OUT32 TAO_WGMMA_OUT16, TAO_WGMMA_OUT_AT(16), TAO_WGMMA_OUT_AT(24)
#define TAO_WGMMA_OUT64 TAO_WGMMA_OUT32, TAO_WGMMA_OUT_AT(32), TAO_WGMMA_OUT_AT(40), TAO_WGMMA_OUT_AT(48), TAO_WGMMA_OUT_AT(56)

// D += A·B for one (dtype, N): m64nNk16, A from registers, B by descriptor, scale-d = 1. The f32
// accumulators are held as their bits (32-bit integer registers): float registers made the compiler
// copy them between wgmmas, which serializes them.
#define TAO_WGMMA_RS(DTYPE, TYPE, N, ACC)                                                                 \
  template <>                                                                                             \
  struct Mma<DTYPE, N> {                                                                                  \
    static __device__ __forceinline__ void mma(uint32_t (&d)[ACC], const uint32_t (&a)[4], uint64_t desc_b) { \
      asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\n"                                              \
                   "wgmma.mma_async.sync.aligned.m64n" #N "k16.f32." TYPE "." TYPE " {" TAO_WGMMA_REGS##ACC  \
                   "}, " TAO_WGMMA_AB##ACC ", p, 1, 1, 0;\n}\n"                                             \
                   : TAO_WGMMA_OUT##ACC                                                                   \
                   : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc_b));                            \
    }                                                                                                    \
  };

template <int Dtype, int N>
struct Mma;
TAO_WGMMA_RS(TAO_BF16, "bf16", 32, 16)
TAO_WGMMA_RS(TAO_BF16, "bf16", 64, 32)
TAO_WGMMA_RS(TAO_BF16, "bf16", 128, 64)
TAO_WGMMA_RS(TAO_F16, "f16", 32, 16)
TAO_WGMMA_RS(TAO_F16, "f16", 64, 32)
TAO_WGMMA_RS(TAO_F16, "f16", 128, 64)

}  // namespace wgmma
}  // namespace cuda
}  // namespace tao
