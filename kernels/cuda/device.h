// CUDA runtime side of contexts: streams, the stream-ordered pool, copies, events, graphs,
// pointer checks and the device part of the capability report.
#pragma once
#include <stdint.h>

#include <string>

#include "../common/context.h"
#include "tao.h"

namespace tao {
namespace cuda {

// Split-K semaphores per context (ctx->counters): each is zero except while the blocks of one
// output tile of one kernel are arriving; the last block resets it.
constexpr uint32_t kSplitCounters = 1u << 16;

// A failed CUDA runtime call (error: a cudaError_t) as a status naming the call; clears the
// runtime's last error so later calls are not blamed for it.
tao_status cuda_fail(int error, const char* op, const char* what);
#define CUDA_TRY(op, call)                                                \
  do {                                                                    \
    const int _e = (int)(call);                                           \
    if (_e != 0) return ::tao::cuda::cuda_fail(_e, op, #call);            \
  } while (0)

// Number of CUDA devices; on failure 0 and *why gets the runtime's message.
int device_count(std::string* why);
tao_status ctx_init(tao_ctx* ctx);
tao_status ctx_release(tao_ctx* ctx);
tao_status synchronize(tao_ctx* ctx, const char* op);
// Bytes the device's default pool has in use now and at most since the last reset (tao_ctx_memory).
tao_status memory_stats(tao_ctx* ctx, uint64_t* used, uint64_t* peak, bool reset_peak);
tao_status alloc(tao_ctx* ctx, uint64_t bytes, void** out);
tao_status release(tao_ctx* ctx, void* ptr);
tao_status copy(tao_ctx* ctx, void* dst, const void* src, uint64_t bytes, int kind);
tao_status memset(tao_ctx* ctx, void* ptr, int value, uint64_t bytes);
// Reads bytes (a multiple of 16) at ptr and discards them (tao_read: a clean L2 flush).
tao_status read(tao_ctx* ctx, const void* ptr, uint64_t bytes);
// TAO_OK when p is device memory of ctx's device (ctx CUDA) or not device memory (ctx CPU, checked
// only once this process has created a CUDA context).
tao_status check_pointer(tao_ctx* ctx, const void* p, const char* op, const char* name);
tao_status event_create(tao_event* ev);
tao_status event_record(tao_event* ev);
tao_status event_elapsed(tao_event* a, tao_event* b, float* ms);
void event_destroy(tao_event* ev);
tao_status graph_begin(tao_ctx* ctx);
tao_status graph_end(tao_ctx* ctx, void** exec);
tao_status graph_launch(tao_ctx* ctx, void* exec);
void graph_destroy(void* exec);
// Appends the "cuda": {...} member (without a leading comma) to a JSON object under construction.
void capabilities_json(std::string& out);
// Turns the last launch's error into a status (call after every kernel launch).
tao_status check_launch(const char* op);

}  // namespace cuda
}  // namespace tao
