// CPU thread count used by every CPU kernel (tao_set_cpu_threads; 0 = all cores).
#include <omp.h>

#include <atomic>

#include "parallel.h"

namespace tao {
namespace cpu {

namespace {
std::atomic<int> g_threads{0};
}

int max_threads() {
  static const int procs = omp_get_num_procs();  // a system call: ask once
  const int n = g_threads.load();
  return n > 0 ? n : procs;
}

void set_threads(int n) { g_threads.store(n); }

}  // namespace cpu
}  // namespace tao
