// Entry points for contexts, memory, events and graphs. The CPU context does host work inline;
// a CUDA context forwards to kernels/cuda/device.cpp.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>

#include "checks.h"
#include "context.h"
#include "status.h"
#ifdef TAO_WITH_CUDA
#include "../cuda/device.h"
#include "../cuda/mathlibs.h"
#endif

using namespace tao;

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

tao_status cpu_only_unsupported(const char* op) {
  return fail(TAO_ERR_UNSUPPORTED, op, "not available on the CPU context (CUDA contexts only)");
}

}  // namespace

extern "C" {

tao_status tao_ctx_create(int32_t device, tao_ctx** out) {
  const char* op = "tao_ctx_create";
  if (!out) return fail(TAO_ERR_INVALID_ARGUMENT, op, "out is NULL");
  *out = nullptr;
  if (device < -1) return fail(TAO_ERR_INVALID_ARGUMENT, op, "device=%d must be -1 (CPU) or a CUDA ordinal", device);
#ifdef TAO_WITH_CUDA
  if (device >= 0) {
    std::string why;
    const int n = cuda::device_count(&why);
    if (device >= n)
      return fail(TAO_ERR_UNAVAILABLE, op, "no CUDA device %d (%d present%s%s)", device, n, why.empty() ? "" : ": ",
                  why.c_str());
  }
#else
  if (device >= 0) return fail(TAO_ERR_UNAVAILABLE, op, "this libtao was built without CUDA (device %d requested)", device);
#endif
  tao_ctx* ctx = new (std::nothrow) tao_ctx{device, nullptr, false, nullptr, nullptr, nullptr, nullptr};
  if (!ctx) return fail(TAO_ERR_OUT_OF_MEMORY, op, "cannot allocate a context");
#ifdef TAO_WITH_CUDA
  if (device >= 0) {
    tao_status s = cuda::ctx_init(ctx);
    if (s != TAO_OK) {
      delete ctx;
      return s;
    }
  }
#endif
  *out = ctx;
  return TAO_OK;
}

tao_status tao_ctx_destroy(tao_ctx* ctx) {
  if (!ctx) return TAO_OK;
  tao_status s = TAO_OK;
#ifdef TAO_WITH_CUDA
  if (ctx->device >= 0) {
    cuda::mathlibs_release(ctx);
    s = cuda::ctx_release(ctx);
  }
#endif
  delete ctx;
  return s;
}

tao_status tao_ctx_device(tao_ctx* ctx, int32_t* out) {
  TAO_TRY(check_ctx(ctx, "tao_ctx_device"));
  if (!out) return fail(TAO_ERR_INVALID_ARGUMENT, "tao_ctx_device", "out is NULL");
  *out = ctx->device;
  return TAO_OK;
}

tao_status tao_ctx_synchronize(tao_ctx* ctx) {
  TAO_TRY(check_ctx(ctx, "tao_ctx_synchronize"));
#ifdef TAO_WITH_CUDA
  if (ctx->device >= 0) return cuda::synchronize(ctx, "tao_ctx_synchronize");
#endif
  return TAO_OK;
}

tao_status tao_ctx_memory(tao_ctx* ctx, uint64_t* used, uint64_t* peak, int32_t reset_peak) {
  const char* op = "tao_ctx_memory";
  TAO_TRY(check_ctx(ctx, op));
  if (ctx->device < 0) return cpu_only_unsupported(op);
#ifdef TAO_WITH_CUDA
  return cuda::memory_stats(ctx, used, peak, reset_peak != 0);
#else
  return TAO_OK;
#endif
}

tao_status tao_ctx_init_mathlibs(tao_ctx* ctx, int32_t which) {
  const char* op = "tao_ctx_init_mathlibs";
  TAO_TRY(check_ctx(ctx, op));
  if (which & ~(TAO_MATHLIB_CUBLASLT | TAO_MATHLIB_CUSPARSELT))
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "which=%d has bits other than TAO_MATHLIB_*", which);
  if (ctx->device < 0) return cpu_only_unsupported(op);
#ifdef TAO_WITH_CUDA
  return cuda::mathlibs_init(ctx, which);
#else
  return TAO_OK;
#endif
}

tao_status tao_alloc(tao_ctx* ctx, uint64_t bytes, void** out) {
  const char* op = "tao_alloc";
  TAO_TRY(check_ctx(ctx, op));
  if (!out) return fail(TAO_ERR_INVALID_ARGUMENT, op, "out is NULL");
  *out = nullptr;
  if (bytes == 0) return fail(TAO_ERR_INVALID_ARGUMENT, op, "bytes must be > 0");
#ifdef TAO_WITH_CUDA
  if (ctx->device >= 0) return cuda::alloc(ctx, bytes, out);
#endif
  if (bytes > (1ULL << 56)) return fail(TAO_ERR_OUT_OF_MEMORY, op, "cannot allocate %llu bytes of host memory", (unsigned long long)bytes);
  const uint64_t rounded = (bytes + 255) & ~255ULL;
  void* p = std::aligned_alloc(256, rounded);
  if (!p) return fail(TAO_ERR_OUT_OF_MEMORY, op, "cannot allocate %llu bytes of host memory", (unsigned long long)bytes);
  *out = p;
  return TAO_OK;
}

tao_status tao_free(tao_ctx* ctx, void* ptr) {
  TAO_TRY(check_ctx(ctx, "tao_free"));
  if (!ptr) return TAO_OK;
#ifdef TAO_WITH_CUDA
  if (ctx->device >= 0) return cuda::release(ctx, ptr);
#endif
  std::free(ptr);
  return TAO_OK;
}

tao_status tao_copy(tao_ctx* ctx, void* dst, const void* src, uint64_t bytes, int32_t kind) {
  const char* op = "tao_copy";
  TAO_TRY(check_ctx(ctx, op));
  if (kind < TAO_COPY_H2D || kind > TAO_COPY_D2D)
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "kind=%d is not a TAO_COPY_* value", kind);
  if (bytes == 0) return TAO_OK;
  if (!dst || !src) return fail(TAO_ERR_INVALID_ARGUMENT, op, "%s is NULL", dst ? "src" : "dst");
#ifdef TAO_WITH_CUDA
  if (ctx->device >= 0) {
    tao_ctx host{-1, nullptr, false, nullptr, nullptr, nullptr};
    TAO_TRY(cuda::check_pointer(kind == TAO_COPY_D2H ? &host : ctx, dst, op, "dst"));
    TAO_TRY(cuda::check_pointer(kind == TAO_COPY_H2D ? &host : ctx, src, op, "src"));
    return cuda::copy(ctx, dst, src, bytes, kind);
  }
  TAO_TRY(check_buffer(ctx, dst, op, "dst"));
  TAO_TRY(check_buffer(ctx, src, op, "src"));
#endif
  std::memmove(dst, src, bytes);
  return TAO_OK;
}

tao_status tao_memset(tao_ctx* ctx, void* ptr, int32_t value, uint64_t bytes) {
  const char* op = "tao_memset";
  TAO_TRY(check_ctx(ctx, op));
  if (bytes == 0) return TAO_OK;
  TAO_TRY(check_buffer(ctx, ptr, op, "ptr"));
#ifdef TAO_WITH_CUDA
  if (ctx->device >= 0) return cuda::memset(ctx, ptr, value, bytes);
#endif
  std::memset(ptr, value & 0xff, bytes);
  return TAO_OK;
}

tao_status tao_read(tao_ctx* ctx, const void* ptr, uint64_t bytes) {
  const char* op = "tao_read";
  TAO_TRY(check_ctx(ctx, op));
  if (bytes == 0) return TAO_OK;
  if (((uintptr_t)ptr | bytes) % 16 != 0) return fail(TAO_ERR_INVALID_ARGUMENT, op, "ptr and bytes=%llu must be multiples of 16", (unsigned long long)bytes);
  TAO_TRY(check_buffer(ctx, ptr, op, "ptr"));
#ifdef TAO_WITH_CUDA
  if (ctx->device >= 0) return cuda::read(ctx, ptr, bytes);
#endif
  const volatile uint64_t* p = (const volatile uint64_t*)ptr;
  uint64_t sink = 0;
  for (uint64_t i = 0; i < bytes / 8; i += 8) sink ^= p[i];  // one load per 64-byte line
  (void)sink;
  return TAO_OK;
}

tao_status tao_event_create(tao_ctx* ctx, tao_event** out) {
  const char* op = "tao_event_create";
  TAO_TRY(check_ctx(ctx, op));
  if (!out) return fail(TAO_ERR_INVALID_ARGUMENT, op, "out is NULL");
  tao_event* ev = new (std::nothrow) tao_event{ctx, nullptr, 0, false};
  if (!ev) return fail(TAO_ERR_OUT_OF_MEMORY, op, "cannot allocate an event");
#ifdef TAO_WITH_CUDA
  if (ctx->device >= 0) {
    tao_status s = cuda::event_create(ev);
    if (s != TAO_OK) {
      delete ev;
      return s;
    }
  }
#endif
  *out = ev;
  return TAO_OK;
}

tao_status tao_event_record(tao_ctx* ctx, tao_event* ev) {
  const char* op = "tao_event_record";
  TAO_TRY(check_ctx(ctx, op));
  if (!ev) return fail(TAO_ERR_INVALID_ARGUMENT, op, "event is NULL");
  if (ev->ctx != ctx) return fail(TAO_ERR_INVALID_ARGUMENT, op, "the event belongs to another context");
#ifdef TAO_WITH_CUDA
  if (ctx->device >= 0) TAO_TRY(cuda::event_record(ev));
#endif
  ev->host_ns = now_ns();
  ev->recorded = true;
  return TAO_OK;
}

tao_status tao_event_elapsed_ms(tao_event* start, tao_event* end, float* ms) {
  const char* op = "tao_event_elapsed_ms";
  if (!start || !end || !ms) return fail(TAO_ERR_INVALID_ARGUMENT, op, "start, end and ms must not be NULL");
  if (start->ctx != end->ctx) return fail(TAO_ERR_INVALID_ARGUMENT, op, "the events belong to different contexts");
  if (!start->recorded || !end->recorded) return fail(TAO_ERR_INVALID_ARGUMENT, op, "both events must be recorded first");
#ifdef TAO_WITH_CUDA
  if (start->ctx->device >= 0) return cuda::event_elapsed(start, end, ms);
#endif
  *ms = (float)((double)(end->host_ns - start->host_ns) / 1e6);
  return TAO_OK;
}

tao_status tao_event_destroy(tao_event* ev) {
  if (!ev) return TAO_OK;
#ifdef TAO_WITH_CUDA
  cuda::event_destroy(ev);
#endif
  delete ev;
  return TAO_OK;
}

tao_status tao_graph_begin(tao_ctx* ctx) {
  const char* op = "tao_graph_begin";
  TAO_TRY(check_ctx(ctx, op));
  if (ctx->device < 0) return cpu_only_unsupported(op);
  if (ctx->capturing) return fail(TAO_ERR_INVALID_ARGUMENT, op, "a capture is already open on this context");
#ifdef TAO_WITH_CUDA
  return cuda::graph_begin(ctx);
#else
  return TAO_OK;
#endif
}

tao_status tao_graph_end(tao_ctx* ctx, tao_graph** out) {
  const char* op = "tao_graph_end";
  TAO_TRY(check_ctx(ctx, op));
  if (!out) return fail(TAO_ERR_INVALID_ARGUMENT, op, "out is NULL");
  *out = nullptr;
  if (ctx->device < 0) return cpu_only_unsupported(op);
  if (!ctx->capturing) return fail(TAO_ERR_INVALID_ARGUMENT, op, "no capture is open (call tao_graph_begin first)");
#ifdef TAO_WITH_CUDA
  void* exec = nullptr;
  TAO_TRY(cuda::graph_end(ctx, &exec));
  tao_graph* g = new (std::nothrow) tao_graph{ctx, exec};
  if (!g) {
    cuda::graph_destroy(exec);
    return fail(TAO_ERR_OUT_OF_MEMORY, op, "cannot allocate a graph");
  }
  *out = g;
#endif
  return TAO_OK;
}

tao_status tao_graph_launch(tao_ctx* ctx, tao_graph* graph) {
  const char* op = "tao_graph_launch";
  TAO_TRY(check_ctx(ctx, op));
  if (!graph) return fail(TAO_ERR_INVALID_ARGUMENT, op, "graph is NULL");
  if (graph->ctx != ctx) return fail(TAO_ERR_INVALID_ARGUMENT, op, "the graph was captured on another context");
#ifdef TAO_WITH_CUDA
  return cuda::graph_launch(ctx, graph->exec);
#else
  return cpu_only_unsupported(op);
#endif
}

tao_status tao_graph_destroy(tao_graph* graph) {
  if (!graph) return TAO_OK;
#ifdef TAO_WITH_CUDA
  cuda::graph_destroy(graph->exec);
#endif
  delete graph;
  return TAO_OK;
}

}  // extern "C"
