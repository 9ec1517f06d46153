// The objects behind the opaque handles of tao.h.
#pragma once
#include <stdint.h>

#include "tao.h"

struct tao_ctx {
  int32_t device;   // -1: CPU; >= 0: CUDA ordinal
  void* stream;     // cudaStream_t of a CUDA context
  bool capturing;   // a graph capture is open on the stream
  void* mathlibs;   // tao::cuda::MathLibs*, created on first use
  void* counters;   // uint32 [tao::cuda::kSplitCounters] on the device, zero between kernels (split-K semaphores)
  void* splt_plans; // tao::cuda::SpltPlans*: cuSPARSELt plans by shape, created on first use
  void* capture_allocs;  // tao::cuda::CaptureAllocs*: blocks allocated while a capture is open (their addresses are graph-owned)
};

struct tao_event {
  tao_ctx* ctx;
  void* cuda_event;  // cudaEvent_t (CUDA contexts)
  int64_t host_ns;   // steady-clock stamp (CPU context)
  bool recorded;
};

struct tao_graph {
  tao_ctx* ctx;
  void* exec;  // cudaGraphExec_t
};
