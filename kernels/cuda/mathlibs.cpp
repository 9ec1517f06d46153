// Lazy loading of cuBLASLt and cuSPARSELt. Their headers are optional at build time
// (TAO_HAVE_CUBLASLT / TAO_HAVE_CUSPARSELT); the shared libraries are found at run time by soname,
// then in the directory found at build time, then through TAO_CUBLASLT_PATH / TAO_CUSPARSELT_PATH.
#include "mathlibs.h"

#include <cuda_runtime.h>
#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <new>

#include "../common/json.h"
#include "../common/status.h"
#ifdef TAO_HAVE_CUBLASLT
#include <cublasLt.h>
#endif
#ifdef TAO_HAVE_CUSPARSELT
#include <cusparseLt.h>
#endif

namespace tao {
namespace cuda {

namespace {

constexpr size_t kLtWorkspaceBytes = 32u << 20;  // cuBLASLt workspace per context

// A dlopen'ed library: handle, or the reason it could not be loaded.
struct Lib {
  void* handle = nullptr;
  std::string error;
};

Lib open_lib(const char* env_var, const char* const* sonames, const char* build_dir, const char* file) {
  Lib lib;
  std::string tried;
  auto attempt = [&](const std::string& path) {
    if (lib.handle || path.empty()) return;
    lib.handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib.handle) tried += (tried.empty() ? "" : "; ") + std::string(dlerror());
  };
  if (const char* p = std::getenv(env_var)) attempt(p);
  for (const char* const* s = sonames; *s; ++s) attempt(*s);
  if (build_dir && *build_dir) attempt(std::string(build_dir) + "/" + file);
  if (!lib.handle) lib.error = tried;
  return lib;
}

#ifndef TAO_CUBLASLT_LIBDIR
#define TAO_CUBLASLT_LIBDIR ""
#endif
#ifndef TAO_CUSPARSELT_LIBDIR
#define TAO_CUSPARSELT_LIBDIR ""
#endif

[[maybe_unused]] const Lib& cublaslt_lib() {
  static const char* const names[] = {"libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so", nullptr};
  static Lib lib = open_lib("TAO_CUBLASLT_PATH", names, TAO_CUBLASLT_LIBDIR, "libcublasLt.so");
  return lib;
}

[[maybe_unused]] const Lib& cusparselt_lib() {
  static const char* const names[] = {"libcusparseLt.so.0", "libcusparseLt.so", nullptr};
  static Lib lib = open_lib("TAO_CUSPARSELT_PATH", names, TAO_CUSPARSELT_LIBDIR, "libcusparseLt.so.0");
  return lib;
}

template <class F>
F symbol(const Lib& lib, const char* name) {
  return lib.handle ? (F)dlsym(lib.handle, name) : nullptr;
}

// Per-context handles, owned through tao_ctx::mathlibs.
struct MathLibs {
  void* lt = nullptr;         // cublasLtHandle_t
  void* lt_workspace = nullptr;
  void* splt = nullptr;       // cusparseLtHandle_t (heap, its size is the header's)
};

MathLibs* state(tao_ctx* ctx) {
  if (!ctx->mathlibs) ctx->mathlibs = new (std::nothrow) MathLibs();
  return (MathLibs*)ctx->mathlibs;
}

std::mutex g_mutex;

tao_status init_cublaslt(tao_ctx* ctx, MathLibs* m, const char* op) {
  if (m->lt) return TAO_OK;
#ifdef TAO_HAVE_CUBLASLT
  const Lib& lib = cublaslt_lib();
  auto create = symbol<decltype(&cublasLtCreate)>(lib, "cublasLtCreate");
  if (!create) return fail(TAO_ERR_UNAVAILABLE, op, "cuBLASLt could not be loaded: %s", lib.error.c_str());
  cublasLtHandle_t h = nullptr;
  cublasStatus_t st = create(&h);
  if (st != CUBLAS_STATUS_SUCCESS) return fail(TAO_ERR_LIBRARY, op, "cublasLtCreate failed with status %d", (int)st);
  void* ws = nullptr;
  cudaError_t e = cudaMallocAsync(&ws, kLtWorkspaceBytes, (cudaStream_t)ctx->stream);
  if (e != cudaSuccess) {
    cudaGetLastError();
    symbol<decltype(&cublasLtDestroy)>(lib, "cublasLtDestroy")(h);
    return fail(TAO_ERR_OUT_OF_MEMORY, op, "cuBLASLt workspace of %zu bytes: %s", kLtWorkspaceBytes, cudaGetErrorString(e));
  }
  m->lt = h;
  m->lt_workspace = ws;
  return TAO_OK;
#else
  (void)ctx;
  (void)m;
  return fail(TAO_ERR_UNAVAILABLE, op, "cuBLASLt: this libtao was built without the cuBLASLt headers");
#endif
}

tao_status init_cusparselt(MathLibs* m, const char* op) {
  if (m->splt) return TAO_OK;
#ifdef TAO_HAVE_CUSPARSELT
  const Lib& lib = cusparselt_lib();
  auto init = symbol<decltype(&cusparseLtInit)>(lib, "cusparseLtInit");
  if (!init) return fail(TAO_ERR_UNAVAILABLE, op, "cuSPARSELt (libcusparseLt.so.0) could not be loaded: %s", lib.error.c_str());
  auto* h = new (std::nothrow) cusparseLtHandle_t;
  if (!h) return fail(TAO_ERR_OUT_OF_MEMORY, op, "cannot allocate a cuSPARSELt handle");
  cusparseStatus_t st = init(h);
  if (st != CUSPARSE_STATUS_SUCCESS) {
    delete h;
    return fail(TAO_ERR_LIBRARY, op, "cusparseLtInit failed with status %d", (int)st);
  }
  m->splt = h;
  return TAO_OK;
#else
  (void)m;
  return fail(TAO_ERR_UNAVAILABLE, op, "cuSPARSELt: this libtao was built without the cuSPARSELt headers");
#endif
}

void library_json(std::string& out, const char* key, bool compiled, const Lib* lib, long version) {
  out += std::string("\"") + key + "\":{\"compiled\":" + (compiled ? "true" : "false");
  const bool available = compiled && lib && lib->handle && version > 0;
  out += std::string(",\"available\":") + (available ? "true" : "false");
  out += ",\"version\":" + (available ? std::to_string(version) : std::string("null"));
  std::string err = !compiled ? "built without its headers" : (lib && !lib->handle ? lib->error : "");
  if (compiled && lib && lib->handle && version <= 0) err = "loaded, but its version query failed";
  out += ",\"error\":" + (err.empty() ? std::string("null") : json_string(err)) + "}";
}

}  // namespace

tao_status mathlibs_init(tao_ctx* ctx, int which) {
  std::lock_guard<std::mutex> lock(g_mutex);
  MathLibs* m = state(ctx);
  if (!m) return fail(TAO_ERR_OUT_OF_MEMORY, "tao_ctx_init_mathlibs", "cannot allocate the library state");
  if (cudaSetDevice(ctx->device) != cudaSuccess) {
    cudaGetLastError();
    return fail(TAO_ERR_CUDA, "tao_ctx_init_mathlibs", "cudaSetDevice(%d) failed", ctx->device);
  }
  if (which & TAO_MATHLIB_CUBLASLT) TAO_TRY(init_cublaslt(ctx, m, "tao_ctx_init_mathlibs"));
  if (which & TAO_MATHLIB_CUSPARSELT) TAO_TRY(init_cusparselt(m, "tao_ctx_init_mathlibs"));
  return TAO_OK;
}

tao_status cublaslt_handle(tao_ctx* ctx, const char* op, LtHandle* out) {
  MathLibs* m;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    m = state(ctx);
    if (!m) return fail(TAO_ERR_OUT_OF_MEMORY, op, "cannot allocate the library state");
    TAO_TRY(init_cublaslt(ctx, m, op));
  }
  *out = LtHandle{m->lt, m->lt_workspace, kLtWorkspaceBytes};
  return TAO_OK;
}

void* cublaslt_symbol(const char* name) { return symbol<void*>(cublaslt_lib(), name); }

tao_status cusparselt_handle(tao_ctx* ctx, const char* op, void** out) {
  std::lock_guard<std::mutex> lock(g_mutex);
  MathLibs* m = state(ctx);
  if (!m) return fail(TAO_ERR_OUT_OF_MEMORY, op, "cannot allocate the library state");
  TAO_TRY(init_cusparselt(m, op));
  *out = m->splt;
  return TAO_OK;
}

void* cusparselt_symbol(const char* name) {
#ifdef TAO_HAVE_CUSPARSELT
  return symbol<void*>(cusparselt_lib(), name);
#else
  (void)name;
  return nullptr;
#endif
}

void mathlibs_release(tao_ctx* ctx) {
  cusparselt_plans_release(ctx);
  auto* m = (MathLibs*)ctx->mathlibs;
  if (!m) return;
#ifdef TAO_HAVE_CUBLASLT
  if (m->lt) symbol<decltype(&cublasLtDestroy)>(cublaslt_lib(), "cublasLtDestroy")((cublasLtHandle_t)m->lt);
  if (m->lt_workspace) cudaFreeAsync(m->lt_workspace, (cudaStream_t)ctx->stream);
#endif
#ifdef TAO_HAVE_CUSPARSELT
  if (m->splt) {
    auto* h = (cusparseLtHandle_t*)m->splt;
    symbol<decltype(&cusparseLtDestroy)>(cusparselt_lib(), "cusparseLtDestroy")(h);
    delete h;
  }
#endif
  delete m;
  ctx->mathlibs = nullptr;
}

void mathlibs_capabilities_json(std::string& out) {
#ifdef TAO_HAVE_CUBLASLT
  auto lt_version = symbol<decltype(&cublasLtGetVersion)>(cublaslt_lib(), "cublasLtGetVersion");
  library_json(out, "cublaslt", true, &cublaslt_lib(), lt_version ? (long)lt_version() : 0);
#else
  library_json(out, "cublaslt", false, nullptr, 0);
#endif
  out += ",";
#ifdef TAO_HAVE_CUSPARSELT
  auto sp_prop = symbol<decltype(&cusparseLtGetProperty)>(cusparselt_lib(), "cusparseLtGetProperty");
  int major = 0, minor = 0, patch = 0;
  if (sp_prop) {
    sp_prop(MAJOR_VERSION, &major);
    sp_prop(MINOR_VERSION, &minor);
    sp_prop(PATCH_LEVEL, &patch);
  }
  library_json(out, "cusparselt", true, &cusparselt_lib(), major * 10000L + minor * 100L + patch);
#else
  library_json(out, "cusparselt", false, nullptr, 0);
#endif
}

}  // namespace cuda
}  // namespace tao
