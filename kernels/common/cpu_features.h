// CPU features relevant to tao's kernels, for the capability report.
#pragma once
#include <string>
#include <vector>

namespace tao {

// Names of the supported features among: sse4.2, avx, avx2, fma, f16c, avx512f, avx512bw,
// avx512vl, avx512vnni, avx512bf16, avxvnni, amx-tile, amx-int8, amx-bf16.
std::vector<std::string> cpu_features();

}  // namespace tao
