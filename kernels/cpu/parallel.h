// CPU threading: OpenMP parallel loops over index ranges, with the thread count set by
// tao_set_cpu_threads. Kernels run a chunk function per range; chunks are contiguous.
#pragma once
#include <stdint.h>

#include <algorithm>

namespace tao {
namespace cpu {

int max_threads();

// Calls fn(begin, end) over [0, n) split into contiguous chunks of at least `grain` items,
// in parallel when there is more than one chunk.
template <class F>
void parallel_for(uint64_t n, uint64_t grain, F&& fn) {
  if (n == 0) return;
  const int64_t threads = max_threads();
  int64_t chunks = (int64_t)std::min<uint64_t>((n + grain - 1) / grain, (uint64_t)threads * 4);
  if (chunks <= 1) {
    fn((uint64_t)0, n);
    return;
  }
  const uint64_t per = (n + chunks - 1) / chunks;
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t c = 0; c < chunks; ++c) {
    const uint64_t b = (uint64_t)c * per, e = std::min(n, b + per);
    if (b < e) fn(b, e);
  }
}

}  // namespace cpu
}  // namespace tao

// Hot CPU loops are compiled for AVX-512 (x86-64-v4), AVX2 (x86-64-v3) and baseline x86-64; the
// loader picks the best clone for the running CPU once (GCC function multiversioning).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define TAO_CPU_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define TAO_CPU_CLONES
#endif
#define TAO_INLINE inline __attribute__((always_inline))
