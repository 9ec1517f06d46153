// Library-level entry points: version, no-op, capability report, device count, CPU threads,
// dtype sizes.
#include <string>

#include "backend.h"
#include "cpu_features.h"
#include "dtype.h"
#include "json.h"
#include "status.h"
#ifdef TAO_WITH_CUDA
#include "../cuda/device.h"
#include "../cuda/mathlibs.h"
#endif

#ifndef TAO_VERSION
#define TAO_VERSION "0.0.0"
#endif

using namespace tao;

namespace {

std::string capabilities_json() {
  std::string j = "{\"version\":" + json_string(TAO_VERSION) + ",\"cpu\":{\"features\":[";
  bool first = true;
  for (const std::string& f : cpu_features()) {
    j += (first ? "" : ",") + json_string(f);
    first = false;
  }
  j += "],\"threads\":" + std::to_string(cpu::max_threads()) + "},";
#ifdef TAO_WITH_CUDA
  cuda::capabilities_json(j);
  j += ",";
  cuda::mathlibs_capabilities_json(j);
#else
  j += "\"cuda\":{\"compiled\":false,\"runtime_version\":null,\"driver_version\":null,"
       "\"error\":\"this libtao was built without CUDA\",\"devices\":[]},"
       "\"cublaslt\":{\"compiled\":false,\"available\":false,\"version\":null,\"error\":\"built without CUDA\"},"
       "\"cusparselt\":{\"compiled\":false,\"available\":false,\"version\":null,\"error\":\"built without CUDA\"}";
#endif
  return j + "}";
}

}  // namespace

extern "C" {

const char* tao_version(void) { return TAO_VERSION; }

tao_status tao_noop(void) { return TAO_OK; }

tao_status tao_capabilities(char* buf, uint64_t cap, uint64_t* needed) {
  const char* op = "tao_capabilities";
  if (!needed) return fail(TAO_ERR_INVALID_ARGUMENT, op, "needed is NULL");
  const std::string j = capabilities_json();
  *needed = j.size() + 1;
  if (cap < *needed) return TAO_OK;
  if (!buf) return fail(TAO_ERR_INVALID_ARGUMENT, op, "buf is NULL but cap=%llu", (unsigned long long)cap);
  j.copy(buf, j.size());
  buf[j.size()] = '\0';
  return TAO_OK;
}

tao_status tao_cuda_device_count(int32_t* out) {
  if (!out) return fail(TAO_ERR_INVALID_ARGUMENT, "tao_cuda_device_count", "out is NULL");
#ifdef TAO_WITH_CUDA
  *out = cuda::device_count(nullptr);
#else
  *out = 0;
#endif
  return TAO_OK;
}

tao_status tao_set_cpu_threads(int32_t n) {
  if (n < 0 || n > 4096) return fail(TAO_ERR_INVALID_ARGUMENT, "tao_set_cpu_threads", "n=%d must be in 0..4096", n);
  cpu::set_threads(n);
  return TAO_OK;
}

tao_status tao_dtype_size(int32_t dtype, int32_t* out) {
  const char* op = "tao_dtype_size";
  if (!out) return fail(TAO_ERR_INVALID_ARGUMENT, op, "out is NULL");
  if (!dtype_valid(dtype)) return fail(TAO_ERR_INVALID_ARGUMENT, op, "dtype=%d is not a TAO_* dtype code", dtype);
  *out = dtype_size(dtype);
  return TAO_OK;
}

}  // extern "C"
