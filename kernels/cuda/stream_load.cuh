// Loads of weight bytes that a kernel reads once, in row pieces smaller than a 128-byte line (the
// NF4 rows policy's 64 bytes of a row per step): not kept in L1, and L2 told to fetch the
// TAO_STREAM_PREFETCH bytes around them from DRAM at once, so the row's next steps hit L2 instead of
// each reopening a DRAM page for half a line. H100, session 11: NF4 M = 1 60.7 -> 55.9 us on
// (28672, 4096), L2 hit rate 64 %; on the 2:4 kernel's 32-byte meta pieces the same load made the
// small-m product ~20 % slower, so that kernel keeps __ldg.
#pragma once
#include <stdint.h>

// The L2 fetch size of a stream load: ".L2::64B", ".L2::128B", ".L2::256B", or "" for none.
#ifndef TAO_STREAM_PREFETCH
#define TAO_STREAM_PREFETCH ".L2::256B"
#endif

namespace tao {
namespace cuda {

// 8 bytes at p (8-byte aligned, global memory), read once.
__device__ __forceinline__ uint2 stream_load8(const void* p) {
  uint2 v;
  asm("ld.global.nc.L1::no_allocate" TAO_STREAM_PREFETCH ".v2.u32 {%0, %1}, [%2];\n" : "=r"(v.x), "=r"(v.y) : "l"(p));
  return v;
}

}  // namespace cuda
}  // namespace tao
