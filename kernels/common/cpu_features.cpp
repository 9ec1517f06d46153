// CPU feature detection through the compiler's cpuid-backed builtins.
#include "cpu_features.h"

namespace tao {

std::vector<std::string> cpu_features() {
  std::vector<std::string> f;
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
#define TAO_FEATURE(name) \
  if (__builtin_cpu_supports(name)) f.push_back(name);
  TAO_FEATURE("sse4.2")
  TAO_FEATURE("avx")
  TAO_FEATURE("avx2")
  TAO_FEATURE("fma")
  TAO_FEATURE("f16c")
  TAO_FEATURE("avx512f")
  TAO_FEATURE("avx512bw")
  TAO_FEATURE("avx512vl")
  TAO_FEATURE("avx512vnni")
  TAO_FEATURE("avx512bf16")
  TAO_FEATURE("avxvnni")
  TAO_FEATURE("amx-tile")
  TAO_FEATURE("amx-int8")
  TAO_FEATURE("amx-bf16")
#undef TAO_FEATURE
#endif
  return f;
}

}  // namespace tao
