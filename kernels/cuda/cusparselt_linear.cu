// cuSPARSELt 2:4 sparse matmuls: tao_cusparselt_packed_size / _pack, tao_linear_cusparselt (bf16)
// and tao_linear_int8_cusparselt (int8 × int8: for 16-bit y, D = bf16(wscale · acc) through
// cuSPARSELt's alpha vector, then one pass y = dtype(D · xscale + bias), as torchao's
// _cslt_sparse_mm(alpha = wscale, out_dtype) path; for f32 y, exact int32 and the W8A8 epilogue).
//
// Row-major y[m, n] = x[m, k] · Wᵀ is, for cuSPARSELt, D = A · B with the structured operand first:
// A = W as a row-major n × k matrix (2:4 along k, its rows), B = x seen as a column-major k × mp
// matrix (ld = k), C = D = y seen as a column-major n × mp matrix (ld = n), i.e. yᵀ. mp is m rounded
// up to 32; other m run on zero-padded copies of x and y (the dimensions cuSPARSELt accepts are
// multiples of 16 / 32). A bias is broadcast into D first and added by the epilogue as beta · C
// (beta = 1, C = D): alpha · acc + beta · C is f32 before the one rounding, and no plan depends on
// the bias tensor.
//
// Plans: a descriptor set + plan per (mp, n, k, dtypes) in the context (SpltPlans), made on first
// use; the first call also runs cusparseLtMatmulSearch (which times the candidate algorithms on the
// real operands and keeps the fastest in the plan; it synchronizes, so it waits for a call outside a
// graph capture). cuSPARSELt is dlopen'ed (mathlibs): every entry point comes from the loaded library
// and every status is checked.
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

cudaDataType_t value_type(int dtype) { return dtype == TAO_BF16 ? CUDA_R_16BF : CUDA_R_8I; }

// Multiple of n, k and m cuSPARSELt's kernels take for a weight dtype.
int64_t granule(int dtype) { return dtype == TAO_I8 ? 32 : 16; }

// The structured descriptor of W [n, k]; TAO_ERR_UNSUPPORTED (named) for a shape cuSPARSELt refuses.
tao_status weight_descriptor(const cusparseLtHandle_t* h, int dtype, int64_t n, int64_t k, cusparseLtMatDescriptor_t* d,
                             const char* op) {
  const int64_t g = granule(dtype);
  if (n % g != 0 || k % g != 0)
    return fail(TAO_ERR_UNSUPPORTED, op, "cuSPARSELt needs n and k multiples of %lld for %s weights, not n=%lld k=%lld", (long long)g,
                dtype == TAO_I8 ? "int8" : "bf16", (long long)n, (long long)k);
  const cusparseStatus_t st =
      splt().structured(h, d, n, k, k, 16, value_type(dtype), CUSPARSE_ORDER_ROW, CUSPARSELT_SPARSITY_50_PERCENT);
  if (st != CUSPARSE_STATUS_SUCCESS)
    return fail(TAO_ERR_UNSUPPORTED, op, "cuSPARSELt refuses a 2:4 %s weight of n=%lld k=%lld (status %d)", dtype == TAO_I8 ? "int8" : "bf16",
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
  bool alpha_vector = false;  // alpha is a device vector [n] (int8 weights, bf16 D), else the host scalar 1
  ~Plan() {
    const Splt& f = splt();
    if (made >= 5) f.plan_destroy(&plan);
    if (made >= 4) f.sel_destroy(&sel);
    if (made >= 3) f.mat_destroy(&c);
    if (made >= 2) f.mat_destroy(&b);
    if (made >= 1) f.mat_destroy(&a);
  }
};

using PlanKey = std::tuple<int64_t, int64_t, int64_t, int, int>;  // mp, n, k, wdtype, D's cudaDataType_t

// Whether an int8 call computes D = bf16(wscale · acc) (16-bit y) rather than exact int32 sums (f32 y).
bool int8_scaled(const SpltLinearCall& c) { return c.wdtype == TAO_I8 && c.ydtype != TAO_F32; }

// D's element type: the weight's dtype for bf16 weights; bf16 or int32 for int8 ones (int8_scaled).
cudaDataType_t d_type(const SpltLinearCall& c) {
  return c.wdtype != TAO_I8 ? value_type(c.wdtype) : int8_scaled(c) ? CUDA_R_16BF : CUDA_R_32I;
}

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
  const cudaDataType_t outt = d_type(c);
  const PlanKey key{mp, c.n, c.k, c.wdtype, (int)outt};
  auto it = cache->plans.find(key);
  if (it != cache->plans.end()) {
    *out = it->second.get();
    return TAO_OK;
  }
  const Splt& f = splt();
  auto p = std::make_unique<Plan>();
  const bool int8 = c.wdtype == TAO_I8;
  const cudaDataType_t in = value_type(c.wdtype);
  TAO_TRY(weight_descriptor(h, c.wdtype, c.n, c.k, &p->a, op));
  p->made = 1;
  SPLT_TRY(op, "cusparseLtDenseDescriptorInit", f.dense(h, &p->b, c.k, mp, c.k, 16, in, CUSPARSE_ORDER_COL));
  p->made = 2;
  SPLT_TRY(op, "cusparseLtDenseDescriptorInit", f.dense(h, &p->c, c.n, mp, c.n, 16, outt, CUSPARSE_ORDER_COL));
  p->made = 3;
  SPLT_TRY(op, "cusparseLtMatmulDescriptorInit",
           f.mm_init(h, &p->mm, CUSPARSE_OPERATION_NON_TRANSPOSE, CUSPARSE_OPERATION_NON_TRANSPOSE, &p->a, &p->b, &p->c, &p->c,
                     int8 ? CUSPARSE_COMPUTE_32I : CUSPARSE_COMPUTE_32F));
  if (int8_scaled(c)) {
    const int on = 1;
    SPLT_TRY(op, "cusparseLtMatmulDescSetAttribute", f.mm_set(h, &p->mm, CUSPARSELT_MATMUL_ALPHA_VECTOR_SCALING, &on, sizeof(on)));
    p->alpha_vector = true;
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

// The alpha argument of the plan's calls: the device vector `wscale` [n] or the host scalar 1.
const void* alpha_of(const Plan* p, const float* wscale) {
  static const float one = 1.0f;
  return p->alpha_vector ? (const void*)wscale : (const void*)&one;
}

// Times the plan's candidate algorithms on the real operands once and keeps the fastest (D is
// overwritten); a no-op after the first time, and while a graph capture is open.
tao_status search_once(tao_ctx* ctx, const cusparseLtHandle_t* h, Plan* p, const void* alpha, const void* packed, const void* b, void* d,
                       const char* op) {
  if (p->searched || ctx->capturing) return TAO_OK;
  const Splt& f = splt();
  const float beta = 0.0f;
  cudaStream_t stream = stream_of(ctx);
  // The search may try algorithms that need more workspace than the default one: give it 32 MiB at least.
  const size_t search_ws = p->workspace > (32u << 20) ? p->workspace : (32u << 20);
  void* ws = nullptr;
  TAO_TRY(alloc(ctx, search_ws, &ws));
  const cusparseStatus_t st = f.search(h, &p->plan, alpha, packed, b, &beta, d, d, ws, &stream, 1);
  size_t need = 0;
  const cusparseStatus_t wst = st == CUSPARSE_STATUS_SUCCESS ? f.workspace(h, &p->plan, &need) : st;
  const tao_status fs = release(ctx, ws);
  SPLT_TRY(op, "cusparseLtMatmulSearch", st);
  SPLT_TRY(op, "cusparseLtMatmulGetWorkspace", wst);
  TAO_TRY(fs);
  p->workspace = need;
  p->searched = true;
  return TAO_OK;
}

// D = alpha · (A · B) + beta · D with the plan (alpha: see alpha_of).
tao_status run_plan(tao_ctx* ctx, const cusparseLtHandle_t* h, Plan* p, const void* alpha, const void* packed, const void* b, void* d,
                    float beta, const char* op) {
  cudaStream_t stream = stream_of(ctx);
  void* ws = nullptr;
  if (p->workspace) TAO_TRY(alloc(ctx, p->workspace, &ws));
  const cusparseStatus_t st = splt().matmul(h, &p->plan, alpha, packed, b, &beta, d, d, ws, &stream, 1);
  const tao_status fs = ws ? release(ctx, ws) : TAO_OK;
  SPLT_TRY(op, "cusparseLtMatmul", st);
  TAO_TRY(fs);
  return check_launch(op);
}

// d[i][j] = bias[j] for i < rows, j < n (16-bit values, copied as bits).
__global__ void broadcast_bias_kernel(uint16_t* __restrict__ d, const uint16_t* __restrict__ bias, uint64_t rows, uint64_t n) {
  for (uint64_t i = global_thread(); i < rows * n; i += grid_threads()) d[i] = bias[i % n];
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

namespace {

// The structured descriptor of a weight (destroyed with it) and cuSPARSELt's sizes for its compressed form.
struct WeightForm {
  cusparseLtMatDescriptor_t a;
  bool made = false;
  size_t size = 0, buffer = 0;  // compressed bytes; scratch bytes the compression needs
  ~WeightForm() {
    if (made) splt().mat_destroy(&a);
  }
};

tao_status weight_form(tao_ctx* ctx, int dtype, int64_t n, int64_t k, const cusparseLtHandle_t** h, WeightForm* w, const char* op) {
  TAO_TRY(use_device(ctx, op));
  TAO_TRY(library(ctx, op, h));
  TAO_TRY(weight_descriptor(*h, dtype, n, k, &w->a, op));
  w->made = true;
  SPLT_TRY(op, "cusparseLtSpMMACompressedSize2", splt().compressed_size(*h, &w->a, &w->size, &w->buffer));
  return TAO_OK;
}

}  // namespace

tao_status cusparselt_packed_size(tao_ctx* ctx, int dtype, int64_t n, int64_t k, uint64_t* bytes) {
  const cusparseLtHandle_t* h;
  WeightForm w;
  TAO_TRY(weight_form(ctx, dtype, n, k, &h, &w, "tao_cusparselt_packed_size"));
  *bytes = w.size;
  return TAO_OK;
}

tao_status cusparselt_pack(tao_ctx* ctx, const void* values, const uint8_t* meta, int dtype, int64_t n, int64_t k, void* packed) {
  const char* op = "tao_cusparselt_pack";
  const cusparseLtHandle_t* h;
  WeightForm w;
  TAO_TRY(weight_form(ctx, dtype, n, k, &h, &w, op));
  Scratch s{ctx};
  TAO_TRY(alloc(ctx, (uint64_t)(n * k) * (dtype == TAO_I8 ? 1 : 2), &s.p[0]));
  if (w.buffer) TAO_TRY(alloc(ctx, w.buffer, &s.p[1]));
  TAO_TRY(sparse24(ctx, Sparse24Op::Decompress, Sparse24Call{nullptr, s.p[0], dtype, nullptr, nullptr, values, nullptr, meta, nullptr, n, k}));
  SPLT_TRY(op, "cusparseLtSpMMACompress2",
           splt().compress(h, &w.a, 1, CUSPARSE_OPERATION_NON_TRANSPOSE, s.p[0], packed, s.p[1], stream_of(ctx)));
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
  const bool scaled = int8_scaled(c);
  const int xes = int8 ? 1 : 2, des = int8 && !scaled ? 4 : 2;
  cudaStream_t stream = stream_of(ctx);
  Scratch s{ctx};
  const void* b = c.x;
  if (mp != c.m) {  // zero-padded x: rows m..mp are zero, their outputs unused
    TAO_TRY(alloc(ctx, (uint64_t)(mp * c.k) * xes, &s.p[0]));
    CUDA_TRY(op, cudaMemsetAsync((char*)s.p[0] + c.m * c.k * xes, 0, (size_t)((mp - c.m) * c.k * xes), stream));
    CUDA_TRY(op, cudaMemcpyAsync(s.p[0], c.x, (size_t)(c.m * c.k * xes), cudaMemcpyDeviceToDevice, stream));
    b = s.p[0];
  }
  void* d = c.y;  // written in place where y can hold D: bf16 D of bf16 y, m rows
  if ((int8 && !(scaled && c.ydtype == TAO_BF16)) || mp != c.m) {
    TAO_TRY(alloc(ctx, (uint64_t)(mp * c.n) * des, &s.p[1]));
    d = s.p[1];
  }
  const void* alpha = alpha_of(p, c.wscale);
  TAO_TRY(search_once(ctx, h, p, alpha, c.packed, b, d, op));
  const bool bias_in_c = c.bias && !int8;  // int8: the W8A8 epilogue adds it
  if (bias_in_c) {
    broadcast_bias_kernel<<<grid_for(ctx, (uint64_t)(mp * c.n), 256), 256, 0, stream>>>((uint16_t*)d, (const uint16_t*)c.bias,
                                                                                          (uint64_t)mp, (uint64_t)c.n);
    TAO_TRY(check_launch(op));
  }
  TAO_TRY(run_plan(ctx, h, p, alpha, c.packed, b, d, bias_in_c ? 1.0f : 0.0f, op));
  if (int8) {
    const W8A8Call w{(const int8_t*)c.x, c.xscale, nullptr, c.wscale, c.bias, c.y, c.ydtype, c.m, c.n, c.k};
    return scaled ? w8a8_epilogue_scaled(ctx, w, (const uint16_t*)d, c.n, op) : w8a8_epilogue(ctx, w, (const int32_t*)d, c.n, 0, c.m, op);
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
