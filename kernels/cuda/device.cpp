// CUDA contexts: one non-blocking stream each, allocations from the device's default
// stream-ordered pool (release threshold raised so freed blocks stay cached), copies, events and
// graph capture. Every runtime call's status is checked and turned into a tao status.
#include "device.h"

#include <cuda_runtime.h>

#include <atomic>
#include <utility>
#include <vector>
#include <cstdio>

#include "../common/json.h"
#include "../common/status.h"

namespace tao {
namespace cuda {

namespace {
std::atomic<int> g_live_contexts{0};

cudaStream_t stream_of(tao_ctx* ctx) { return (cudaStream_t)ctx->stream; }
}  // namespace

tao_status cuda_fail(int error, const char* op, const char* what) {
  const cudaError_t e = (cudaError_t)error;
  cudaGetLastError();  // clear a non-sticky error so later calls are not blamed for it
  tao_status code = (e == cudaErrorMemoryAllocation) ? TAO_ERR_OUT_OF_MEMORY : TAO_ERR_CUDA;
  return fail(code, op, "%s failed: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
}

int device_count(std::string* why) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    if (why) *why = cudaGetErrorString(e);
    return 0;
  }
  return n;
}

tao_status ctx_init(tao_ctx* ctx) {
  const char* op = "tao_ctx_create";
  CUDA_TRY(op, cudaSetDevice(ctx->device));
  cudaMemPool_t pool;
  CUDA_TRY(op, cudaDeviceGetDefaultMemPool(&pool, ctx->device));
  uint64_t threshold = UINT64_MAX;
  CUDA_TRY(op, cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold));
  cudaStream_t s;
  CUDA_TRY(op, cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  ctx->stream = s;
  void* counters = nullptr;
  cudaError_t e = cudaMalloc(&counters, kSplitCounters * sizeof(uint32_t));
  if (e == cudaSuccess) e = cudaMemset(counters, 0, kSplitCounters * sizeof(uint32_t));
  if (e != cudaSuccess) {
    if (counters) cudaFree(counters);
    cudaStreamDestroy(s);
    return cuda_fail(e, op, "split-K counters");
  }
  ctx->counters = counters;
  g_live_contexts.fetch_add(1);
  return TAO_OK;
}

// Blocks cudaMallocAsync returned while a capture is open: graph-owned addresses, which
// cudaPointerGetAttributes does not know until the graph runs; check_pointer accepts them by range.
struct CaptureAllocs {
  std::vector<std::pair<uintptr_t, uint64_t>> blocks;
};

static CaptureAllocs& capture_allocs(tao_ctx* ctx) {
  if (!ctx->capture_allocs) ctx->capture_allocs = new CaptureAllocs();
  return *(CaptureAllocs*)ctx->capture_allocs;
}

static bool allocated_in_capture(tao_ctx* ctx, const void* p) {
  if (!ctx->capturing || !ctx->capture_allocs) return false;
  for (const auto& [base, bytes] : ((CaptureAllocs*)ctx->capture_allocs)->blocks)
    if ((uintptr_t)p >= base && (uintptr_t)p < base + bytes) return true;
  return false;
}

tao_status ctx_release(tao_ctx* ctx) {
  const char* op = "tao_ctx_destroy";
  CUDA_TRY(op, cudaSetDevice(ctx->device));
  if (ctx->capturing) {
    cudaGraph_t g = nullptr;
    cudaStreamEndCapture(stream_of(ctx), &g);
    if (g) cudaGraphDestroy(g);
    cudaGetLastError();
  }
  cudaError_t e1 = cudaStreamSynchronize(stream_of(ctx));
  cudaError_t e2 = cudaStreamDestroy(stream_of(ctx));
  cudaError_t e3 = cudaFree(ctx->counters);
  g_live_contexts.fetch_sub(1);
  delete (CaptureAllocs*)ctx->capture_allocs;
  ctx->capture_allocs = nullptr;
  if (e1 != cudaSuccess) return cuda_fail(e1, op, "cudaStreamSynchronize");
  if (e2 != cudaSuccess) return cuda_fail(e2, op, "cudaStreamDestroy");
  if (e3 != cudaSuccess) return cuda_fail(e3, op, "cudaFree(counters)");
  return TAO_OK;
}

tao_status memory_stats(tao_ctx* ctx, uint64_t* used, uint64_t* peak, bool reset_peak) {
  const char* op = "tao_ctx_memory";
  cudaMemPool_t pool;
  CUDA_TRY(op, cudaDeviceGetDefaultMemPool(&pool, ctx->device));
  uint64_t now = 0, high = 0;
  CUDA_TRY(op, cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &now));
  CUDA_TRY(op, cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &high));
  if (used) *used = now;
  if (peak) *peak = high;
  if (reset_peak) {
    uint64_t zero = 0;  // the documented way to reset the high-water mark
    CUDA_TRY(op, cudaMemPoolSetAttribute(pool, cudaMemPoolAttrUsedMemHigh, &zero));
  }
  return TAO_OK;
}

tao_status synchronize(tao_ctx* ctx, const char* op) {
  if (ctx->capturing) return fail(TAO_ERR_INVALID_ARGUMENT, op, "cannot synchronize while a graph capture is open");
  CUDA_TRY(op, cudaStreamSynchronize(stream_of(ctx)));
  return TAO_OK;
}

tao_status alloc(tao_ctx* ctx, uint64_t bytes, void** out) {
  const char* op = "tao_alloc";
  CUDA_TRY(op, cudaSetDevice(ctx->device));
  void* p = nullptr;
  cudaError_t e = cudaMallocAsync(&p, bytes, stream_of(ctx));
  if (e != cudaSuccess) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) cudaGetLastError();
    return fail(e == cudaErrorMemoryAllocation || bytes > total_b ? TAO_ERR_OUT_OF_MEMORY : TAO_ERR_CUDA, op,
                "cannot allocate %llu bytes on cuda:%d (%llu of %llu bytes free): %s", (unsigned long long)bytes,
                ctx->device, (unsigned long long)free_b, (unsigned long long)total_b, cudaGetErrorString(e));
  }
  if (ctx->capturing) capture_allocs(ctx).blocks.emplace_back((uintptr_t)p, bytes);
  *out = p;
  return TAO_OK;
}

tao_status release(tao_ctx* ctx, void* ptr) {
  CUDA_TRY("tao_free", cudaFreeAsync(ptr, stream_of(ctx)));
  return TAO_OK;
}

tao_status copy(tao_ctx* ctx, void* dst, const void* src, uint64_t bytes, int kind) {
  const char* op = "tao_copy";
  cudaMemcpyKind k = kind == TAO_COPY_H2D   ? cudaMemcpyHostToDevice
                     : kind == TAO_COPY_D2H ? cudaMemcpyDeviceToHost
                                            : cudaMemcpyDeviceToDevice;
  if (kind == TAO_COPY_D2H && ctx->capturing)
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "a device-to-host copy synchronizes and cannot be captured in a graph");
  CUDA_TRY(op, cudaMemcpyAsync(dst, src, bytes, k, stream_of(ctx)));
  if (kind == TAO_COPY_D2H) CUDA_TRY(op, cudaStreamSynchronize(stream_of(ctx)));
  return TAO_OK;
}

tao_status memset(tao_ctx* ctx, void* ptr, int value, uint64_t bytes) {
  CUDA_TRY("tao_memset", cudaMemsetAsync(ptr, value & 0xff, bytes, stream_of(ctx)));
  return TAO_OK;
}

tao_status check_pointer(tao_ctx* ctx, const void* p, const char* op, const char* name) {
  if (ctx->device < 0 && g_live_contexts.load() == 0) return TAO_OK;
  cudaPointerAttributes a;
  cudaError_t e = cudaPointerGetAttributes(&a, p);
  if (e != cudaSuccess) {
    cudaGetLastError();
    a.type = cudaMemoryTypeUnregistered;
  }
  const bool on_device = a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged || allocated_in_capture(ctx, p);
  if (ctx->device < 0) {
    if (a.type == cudaMemoryTypeDevice)
      return fail(TAO_ERR_DEVICE_MISMATCH, op, "%s is memory of cuda:%d but the context is the CPU", name, a.device);
    return TAO_OK;
  }
  if (!on_device)
    return fail(TAO_ERR_DEVICE_MISMATCH, op, "%s is host memory but the context is cuda:%d", name, ctx->device);
  if (a.type == cudaMemoryTypeDevice && a.device != ctx->device)
    return fail(TAO_ERR_DEVICE_MISMATCH, op, "%s is memory of cuda:%d but the context is cuda:%d", name, a.device, ctx->device);
  return TAO_OK;
}

tao_status event_create(tao_event* ev) {
  cudaEvent_t e;
  CUDA_TRY("tao_event_create", cudaEventCreate(&e));
  ev->cuda_event = e;
  return TAO_OK;
}

tao_status event_record(tao_event* ev) {
  CUDA_TRY("tao_event_record", cudaEventRecord((cudaEvent_t)ev->cuda_event, stream_of(ev->ctx)));
  return TAO_OK;
}

tao_status event_elapsed(tao_event* a, tao_event* b, float* ms) {
  const char* op = "tao_event_elapsed_ms";
  CUDA_TRY(op, cudaEventSynchronize((cudaEvent_t)b->cuda_event));
  CUDA_TRY(op, cudaEventElapsedTime(ms, (cudaEvent_t)a->cuda_event, (cudaEvent_t)b->cuda_event));
  return TAO_OK;
}

void event_destroy(tao_event* ev) {
  if (ev->cuda_event) cudaEventDestroy((cudaEvent_t)ev->cuda_event);
}

tao_status graph_begin(tao_ctx* ctx) {
  CUDA_TRY("tao_graph_begin", cudaStreamBeginCapture(stream_of(ctx), cudaStreamCaptureModeRelaxed));
  capture_allocs(ctx).blocks.clear();
  ctx->capturing = true;
  return TAO_OK;
}

tao_status graph_end(tao_ctx* ctx, void** exec) {
  const char* op = "tao_graph_end";
  cudaGraph_t g = nullptr;
  ctx->capturing = false;
  if (ctx->capture_allocs) ((CaptureAllocs*)ctx->capture_allocs)->blocks.clear();
  CUDA_TRY(op, cudaStreamEndCapture(stream_of(ctx), &g));
  cudaGraphExec_t x = nullptr;
  cudaError_t e = cudaGraphInstantiate(&x, g, 0);
  cudaGraphDestroy(g);
  if (e != cudaSuccess) return cuda_fail(e, op, "cudaGraphInstantiate");
  *exec = x;
  return TAO_OK;
}

tao_status graph_launch(tao_ctx* ctx, void* exec) {
  CUDA_TRY("tao_graph_launch", cudaGraphLaunch((cudaGraphExec_t)exec, stream_of(ctx)));
  return TAO_OK;
}

void graph_destroy(void* exec) { cudaGraphExecDestroy((cudaGraphExec_t)exec); }

tao_status check_launch(const char* op) {
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) return cuda_fail(e, op, "kernel launch");
  return TAO_OK;
}

void capabilities_json(std::string& out) {
  int rt = 0, drv = 0;
  cudaRuntimeGetVersion(&rt);
  cudaDriverGetVersion(&drv);
  std::string why;
  int n = device_count(&why);
  out += "\"cuda\":{\"compiled\":true,\"runtime_version\":" + std::to_string(rt) +
         ",\"driver_version\":" + std::to_string(drv) + ",\"error\":";
  out += why.empty() ? "null" : json_string(why);
  out += ",\"devices\":[";
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp p;
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) {
      cudaGetLastError();
      continue;
    }
    if (i) out += ",";
    out += "{\"index\":" + std::to_string(i) + ",\"name\":" + json_string(p.name) +
           ",\"sm\":" + std::to_string(p.major * 10 + p.minor) +
           ",\"memory_bytes\":" + std::to_string((unsigned long long)p.totalGlobalMem) +
           ",\"multiprocessors\":" + std::to_string(p.multiProcessorCount) +
           ",\"l2_bytes\":" + std::to_string(p.l2CacheSize) + "}";
  }
  out += "]}";
}

}  // namespace cuda
}  // namespace tao
