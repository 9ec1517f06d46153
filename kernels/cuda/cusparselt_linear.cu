// cuSPARSELt 2:4 sparse matmuls: tao_cusparselt_packed_size / _pack, tao_linear_cusparselt (bf16,
// f16) and tao_linear_int8_cusparselt (int8 × int8 → exact int32, then the W8A8 epilogue).
//
// Row-major y[m, n] = x[m, k] · Wᵀ is, for cuSPARSELt, D = A · B with the structured operand first:
// A = W as a row-major n × k matrix (2:4 along k, its rows), B = x seen as a column-major k × mp
// matrix (ld = k), C = D = y seen as a column-major n × mp matrix (ld = n), i.e. yᵀ. The bias is a
// per-row vector of D: cuSPARSELt's BIAS_POINTER epilogue. mp is m rounded up to 32; other m run on
// zero-padded copies of x and y (the dimensions cuSPARSELt accepts are multiples of 16 / 32).
//
// Plans: a descriptor set + plan per (mp, n, k, dtypes, bias pointer) in the context (SpltPlans),
// made on first use with cusparseLtMatmulSearch (which times the candidate algorithms on the real
// operands and keeps the fastest in the plan; it synchronizes, so it is skipped while a graph is
// being captured). The bias pointer is part of the key because a plan is made from the matmul
// descriptor holding it; a plan holds only the address, so a later tensor at the same address is
// served correctly. cuSPARSELt is dlopen'ed (mathlibs): every entry point comes from the loaded
// library and every status is checked.
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "../common/backend.h"
#include "../common/status.h"
#include "launch.cuh"
#include "mathlibs.h"
#include "w8a8_epilogue.h"

#ifdef TAO_HAVE_CUSPARSELT
#include <cusparseLt.h>
#endif

namespace tao {
namespace cuda {

#ifdef TAO_HAVE_CUSPARSELT
namespace {

// The entry points used here, resolved once from the loaded library.
struct Splt {
  decltype(&cusparseLtDenseDescriptorInit) dense;
  decltype(&cusparseLtStructuredDescriptorInit) structured;
  decltype(&cusparseLtMatDescriptorDestroy) mat_destroy;
  decltype(&cusparseLtMatmulDescriptorInit) mm_init;
  decltype(&cusparseLtMatmulDescSetAttribute) mm_set;
  decltype(&cusparseLtMatmulAlgSelectionInit) sel_init;
  decltype(&cusparseLtMatmulAlgSelectionDestroy) sel_destroy;
  decltype(&cusparseLtMatmulPlanInit) plan_init;
  decltype(&cusparseLtMatmulPlanDestroy) plan_destroy;
  decltype(&cusparseLtMatmulGetWorkspace) workspace;
  decltype(&cusparseLtMatmulSearch) search;
  decltype(&cusparseLtMatmul) matmul;
  decltype(&cusparseLtSpMMACompressedSize2) compressed_size;
  decltype(&cusparseLtSpMMACompress2) compress;
  bool ok;
};

const Splt& splt() {
  static const Splt fns = [] {
    Splt f;
#define SPLT_SYM(field, name) f.field = (decltype(f.field))cusparselt_symbol(name)
    SPLT_SYM(dense, "cusparseLtDenseDescriptorInit");
    SPLT_SYM(structured, "cusparseLtStructuredDescriptorInit");
    SPLT_SYM(mat_destroy, "cusparseLtMatDescriptorDestroy");
    SPLT_SYM(mm_init, "cusparseLtMatmulDescriptorInit");
    SPLT_SYM(mm_set, "cusparseLtMatmulDescSetAttribute");
    SPLT_SYM(sel_init, "cusparseLtMatmulAlgSelectionInit");
    SPLT_SYM(sel_destroy, "cusparseLtMatmulAlgSelectionDestroy");
    SPLT_SYM(plan_init, "cusparseLtMatmulPlanInit");
    SPLT_SYM(plan_destroy, "cusparseLtMatmulPlanDestroy");
    SPLT_SYM(workspace, "cusparseLtMatmulGetWorkspace");
    SPLT_SYM(search, "cusparseLtMatmulSearch");
    SPLT_SYM(matmul, "cusparseLtMatmul");
    SPLT_SYM(compressed_size, "cusparseLtSpMMACompressedSize2");
    SPLT_SYM(compress, "cusparseLtSpMMACompress2");
#undef SPLT_SYM
    f.ok = f.dense && f.structured && f.mat_destroy && f.mm_init && f.mm_set && f.sel_init && f.sel_destroy && f.plan_init &&
           f.plan_destroy && f.workspace && f.search && f.matmul && f.compressed_size && f.compress;
    return f;
  }();
  return fns;
}

#define SPLT_TRY(op, name, call)                                                                          \
  do {                                                                                                    \
    const cusparseStatus_t _st = (call);                                                                  \
    if (_st != CUSPARSE_STATUS_SUCCESS)                                                                   \
      return fail(TAO_ERR_LIBRARY, op, "%s failed with cuSPARSELt status %d", name, (int)_st);            \
  } while (0)

// The loaded library's handle and entry points (TAO_ERR_UNAVAILABLE naming the library when missing).
tao_status library(tao_ctx* ctx, const char* op, const cusparseLtHandle_t** h) {
  void* raw = nullptr;
  TAO_TRY(cusparselt_handle(ctx, op, &raw));
  if (!splt().ok) return fail(TAO_ERR_UNAVAILABLE, op, "libcusparseLt is loaded but lacks an entry point tao uses (cuSPARSELt >= 0.6 needed)");
  *h = (const cusparseLtHandle_t*)raw;
  return TAO_OK;
}

cudaDataType_t value_type(int dtype) { return dtype == TAO_BF16 ? CUDA_R_16BF : dtype == TAO_F16 ? CUDA_R_16F : CUDA_R_8I; }

// Multiple of n, k and m cuSPARSELt's kernels take for a weight dtype.
int64_t granule(int dtype) { return dtype == TAO_I8 ? 32 : 16; }

// The structured descriptor of W [n, k]; TAO_ERR_UNSUPPORTED (named) for a shape cuSPARSELt refuses.
tao_status weight_descriptor(const cusparseLtHandle_t* h, int dtype, int64_t n, int64_t k, cusparseLtMatDescriptor_t* d,
                             const char* op) {
  const int64_t g = granule(dtype);
  if (n % g != 0 || k % g != 0)
    return fail(TAO_ERR_UNSUPPORTED, op, "cuSPARSELt needs n and k multiples of %lld for %s weights, not n=%lld k=%lld", (long long)g,
                dtype == TAO_I8 ? "int8" : "16-bit", (long long)n, (long long)k);
  const cusparseStatus_t st =
      splt().structured(h, d, n, k, k, 16, value_type(dtype), CUSPARSE_ORDER_ROW, CUSPARSELT_SPARSITY_50_PERCENT);
  if (st != CUSPARSE_STATUS_SUCCESS)
    return fail(TAO_ERR_UNSUPPORTED, op, "cuSPARSELt refuses a 2:4 %s weight of n=%lld k=%lld (status %d)", dtype == TAO_I8 ? "int8" : "16-bit",
                (long long)n, (long long)k, (int)st);
  return TAO_OK;
}

// One cached plan and the descriptors it was made from (destroyed in reverse order of creation).
struct Plan {
  cusparseLtMatDescriptor_t a, b, c;
  cusparseLtMatmulDescriptor_t mm;
  cusparseLtMatmulAlgSelection_t sel;
  cusparseLtMatmulPlan_t plan;
  int made = 0;  // descriptors a, b, c, then sel, then plan: how many exist
  size_t workspace = 0;
  bool searched = false;
  ~Plan() {
    const Splt& f = splt();
    if (made >= 5) f.plan_destroy(&plan);
    if (made >= 4) f.sel_destroy(&sel);
    if (made >= 3) f.mat_destroy(&c);
    if (made >= 2) f.mat_destroy(&b);
    if (made >= 1) f.mat_destroy(&a);
  }
};

using PlanKey = std::tuple<int64_t, int64_t, int64_t, int, int, const void*>;  // mp, n, k, wdtype, ydtype, bias

}  // namespace

struct SpltPlans {
  std::mutex mutex;
  std::map<PlanKey, std::unique_ptr<Plan>> plans;
};

namespace {

// The plan for c's shape (mp rows), created on first use (not yet searched).
tao_status plan_for(tao_ctx* ctx, const cusparseLtHandle_t* h, const SpltLinearCall& c, int64_t mp, Plan** out, const char* op) {
  if (!ctx->splt_plans) ctx->splt_plans = new (std::nothrow) SpltPlans();
  auto* cache = (SpltPlans*)ctx->splt_plans;
  if (!cache) return fail(TAO_ERR_OUT_OF_MEMORY, op, "cannot allocate the plan cache");
  std::lock_guard<std::mutex> lock(cache->mutex);
  const PlanKey key{mp, c.n, c.k, c.wdtype, c.ydtype, c.bias};
  auto it = cache->plans.find(key);
  if (it != cache->plans.end()) {
    *out = it->second.get();
    return TAO_OK;
  }
  const Splt& f = splt();
  auto p = std::make_unique<Plan>();
  const bool int8 = c.wdtype == TAO_I8;
  const cudaDataType_t in = value_type(c.wdtype), outt = int8 ? CUDA_R_32I : in;
  TAO_TRY(weight_descriptor(h, c.wdtype, c.n, c.k, &p->a, op));
  p->made = 1;
  SPLT_TRY(op, "cusparseLtDenseDescriptorInit", f.dense(h, &p->b, c.k, mp, c.k, 16, in, CUSPARSE_ORDER_COL));
  p->made = 2;
  SPLT_TRY(op, "cusparseLtDenseDescriptorInit", f.dense(h, &p->c, c.n, mp, c.n, 16, outt, CUSPARSE_ORDER_COL));
  p->made = 3;
  SPLT_TRY(op, "cusparseLtMatmulDescriptorInit",
           f.mm_init(h, &p->mm, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE, &p->a, &p->b, &p->c, &p->c,
                     int8 ? CUSPARSE_COMPUTE_32I : CUSPARSE_COMPUTE_32F));
  if (c.bias && !int8) {  // int8: the bias is added by the W8A8 epilogue
    const void* bias = c.bias;
    SPLT_TRY(op, "cusparseLtMatmulDescSetAttribute", f.mm_set(h, &p->mm, CUSPARSELT_MATMUL_BIAS_POINTER, &bias, sizeof bias));
  }
  SPLT_TRY(op, "cusparseLtMatmulAlgSelectionInit", f.sel_init(h, &p->sel, &p->mm, CUSPARSELT_MATMUL_ALG_DEFAULT));
  p->made = 4;
  SPLT_TRY(op, "cusparseLtMatmulPlanInit", f.plan_init(h, &p->plan, &p->mm, &p->sel));
  p->made = 5;
  SPLT_TRY(op, "cusparseLtMatmulGetWorkspace", f.workspace(h, &p->plan, &p->workspace));
  *out = p.get();
  cache->plans.emplace(key, std::move(p));
  return TAO_OK;
}

// D = A · B with the plan (searching its algorithm on the first call outside a capture).
tao_status run_plan(tao_ctx* ctx, const cusparseLtHandle_t* h, Plan* p, const void* packed, const void* b, void* d, const char* op) {
  const Splt& f = splt();
  const float alpha = 1.0f, beta = 0.0f;
  cudaStream_t stream = stream_of(ctx);
  void* ws = nullptr;
  if (!p->searched && !ctx->capturing) {
    // The search may try algorithms that need more workspace than the default one: give it 32 MiB at least.
    const size_t search_ws = p->workspace > (32u << 20) ? p->workspace : (32u << 20);
    TAO_TRY(alloc(ctx, search_ws, &ws));
    const cusparseStatus_t st = f.search(h, &p->plan, &alpha, packed, b, &beta, d, d, ws, &stream, 1);
    size_t need = 0;
    const cusparseStatus_t wst = st == CUSPARSE_STATUS_SUCCESS ? f.workspace(h, &p->plan, &need) : st;
    const tao_status fs = release(ctx, ws);
    ws = nullptr;
    SPLT_TRY(op, "cusparseLtMatmulSearch", st);
    SPLT_TRY(op, "cusparseLtMatmulGetWorkspace", wst);
    TAO_TRY(fs);
    p->workspace = need;
    p->searched = true;
  }
  if (p->workspace) TAO_TRY(alloc(ctx, p->workspace, &ws));
  const cusparseStatus_t st = f.matmul(h, &p->plan, &alpha, packed, b, &beta, d, d, ws, &stream, 1);
  const tao_status fs = ws ? release(ctx, ws) : TAO_OK;
  SPLT_TRY(op, "cusparseLtMatmul", st);
  TAO_TRY(fs);
  return check_launch(op);
}

// Scratch buffers of one call, released on every path.
struct Scratch {
  tao_ctx* ctx;
  void* p[3] = {nullptr, nullptr, nullptr};
  ~Scratch() {
    for (void* q : p)
      if (q) release(ctx, q);
  }
};

}  // namespace

void cusparselt_plans_release(tao_ctx* ctx) {
  delete (SpltPlans*)ctx->splt_plans;
  ctx->splt_plans = nullptr;
}

tao_status cusparselt_packed_size(tao_ctx* ctx, int dtype, int64_t n, int64_t k, uint64_t* bytes) {
  const char* op = "tao_cusparselt_packed_size";
  TAO_TRY(use_device(ctx, op));
  const cusparseLtHandle_t* h;
  TAO_TRY(library(ctx, op, &h));
  cusparseLtMatDescriptor_t a;
  TAO_TRY(weight_descriptor(h, dtype, n, k, &a, op));
  size_t size = 0, buffer = 0;
  const cusparseStatus_t st = splt().compressed_size(h, &a, &size, &buffer);
  splt().mat_destroy(&a);
  SPLT_TRY(op, "cusparseLtSpMMACompressedSize2", st);
  *bytes = size;
  return TAO_OK;
}

tao_status cusparselt_pack(tao_ctx* ctx, const void* values, const uint8_t* meta, int dtype, int64_t n, int64_t k, void* packed) {
  const char* op = "tao_cusparselt_pack";
  TAO_TRY(use_device(ctx, op));
  const cusparseLtHandle_t* h;
  TAO_TRY(library(ctx, op, &h));
  cusparseLtMatDescriptor_t a;
  TAO_TRY(weight_descriptor(h, dtype, n, k, &a, op));
  struct Guard {
    cusparseLtMatDescriptor_t* a;
    ~Guard() { splt().mat_destroy(a); }
  } guard{&a};
  size_t size = 0, buffer = 0;
  SPLT_TRY(op, "cusparseLtSpMMACompressedSize2", splt().compressed_size(h, &a, &size, &buffer));
  Scratch s{ctx};
  TAO_TRY(alloc(ctx, (uint64_t)(n * k) * (dtype == TAO_I8 ? 1 : 2), &s.p[0]));
  if (buffer) TAO_TRY(alloc(ctx, buffer, &s.p[1]));
  TAO_TRY(sparse24(ctx, Sparse24Op::Decompress, Sparse24Call{nullptr, s.p[0], dtype, nullptr, nullptr, values, nullptr, meta, nullptr, n, k}));
  SPLT_TRY(op, "cusparseLtSpMMACompress2",
           splt().compress(h, &a, 1, CUSPARSE_OPERATION_NON_TRANSPOSE, s.p[0], packed, s.p[1], stream_of(ctx)));
  return check_launch(op);
}

tao_status linear_cusparselt(tao_ctx* ctx, const SpltLinearCall& c) {
  const bool int8 = c.wdtype == TAO_I8;
  const char* op = int8 ? "tao_linear_int8_cusparselt" : "tao_linear_cusparselt";
  TAO_TRY(use_device(ctx, op));
  const cusparseLtHandle_t* h;
  TAO_TRY(library(ctx, op, &h));
  const int64_t mp = (c.m + 31) / 32 * 32;
  Plan* p = nullptr;
  TAO_TRY(plan_for(ctx, h, c, mp, &p, op));
  const int xes = int8 ? 1 : 2, des = int8 ? 4 : 2;
  cudaStream_t stream = stream_of(ctx);
  Scratch s{ctx};
  const void* b = c.x;
  if (mp != c.m) {  // zero-padded x: rows m..mp are zero, their outputs unused
    TAO_TRY(alloc(ctx, (uint64_t)(mp * c.k) * xes, &s.p[0]));
    CUDA_TRY(op, cudaMemsetAsync((char*)s.p[0] + c.m * c.k * xes, 0, (size_t)((mp - c.m) * c.k * xes), stream));
    CUDA_TRY(op, cudaMemcpyAsync(s.p[0], c.x, (size_t)(c.m * c.k * xes), cudaMemcpyDeviceToDevice, stream));
    b = s.p[0];
  }
  void* d = c.y;
  if (int8 || mp != c.m) {
    TAO_TRY(alloc(ctx, (uint64_t)(mp * c.n) * des, &s.p[1]));
    d = s.p[1];
  }
  TAO_TRY(run_plan(ctx, h, p, c.packed, b, d, op));
  if (int8) {
    const W8A8Call w{(const int8_t*)c.x, c.xscale, nullptr, c.wscale, c.bias, c.y, c.ydtype, c.m, c.n, c.k};
    return w8a8_epilogue(ctx, w, (const int32_t*)d, c.n, 0, c.m, op);
  }
  if (d != c.y) CUDA_TRY(op, cudaMemcpyAsync(c.y, d, (size_t)(c.m * c.n * des), cudaMemcpyDeviceToDevice, stream));
  return TAO_OK;
}

#else  // built without the cuSPARSELt headers

namespace {
tao_status missing(const char* op) {
  return fail(TAO_ERR_UNAVAILABLE, op, "cuSPARSELt: this libtao was built without the cuSPARSELt headers (cusparseLt.h)");
}
}  // namespace

void cusparselt_plans_release(tao_ctx*) {}
tao_status cusparselt_packed_size(tao_ctx*, int, int64_t, int64_t, uint64_t*) { return missing("tao_cusparselt_packed_size"); }
tao_status cusparselt_pack(tao_ctx*, const void*, const uint8_t*, int, int64_t, int64_t, void*) { return missing("tao_cusparselt_pack"); }
tao_status linear_cusparselt(tao_ctx*, const SpltLinearCall& c) {
  return missing(c.wdtype == TAO_I8 ? "tao_linear_int8_cusparselt" : "tao_linear_cusparselt");
}

#endif

}  // namespace cuda
}  // namespace tao
