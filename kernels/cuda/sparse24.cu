// CUDA 2:4 sparsity helpers: mask / compress / decompress (one thread per group of 4, the rule of
// common/sparse24.h, so the CPU and CUDA keep the same values), masking in place, Wanda's column
// sums of squares (one thread per column walking the rows: neighbouring threads read neighbouring
// columns, coalesced, and every sum is in row order: deterministic), and tao_linear_sparse24: with
// 16-bit x, m < wo::dense_from_m() (32 rows) and k a multiple of 32, the weight-only tensor-core
// kernels over the compressed form (sparse24_rows_policy.cuh); else the dense weight in scratch +
// tao_linear (large m's fast path is cuSPARSELt, cusparselt_linear.cu).
#include "../common/backend.h"
#include "../common/convert.h"
#include "../common/dtype_switch.h"
#include "../common/status.h"
#include "launch.cuh"
#include "sparse24_rows_policy.cuh"
#include "weight_only_gemv.cuh"

namespace tao {
namespace cuda {

namespace {

template <int D>
__global__ void sparse24_kernel(Sparse24Op op, Sparse24Call c) {
  using T = typename Dt<D>::T;
  const uint64_t groups = (uint64_t)(c.n * (c.k / 4));
  for (uint64_t g = global_thread(); g < groups; g += grid_threads())
    sparse24_group<T>(op, c, (int64_t)g, [](T v) { return Dt<D>::to_f32(v); });
}

template <class T>
__global__ void apply_mask_kernel(T* x, const uint8_t* __restrict__ mask, uint64_t numel) {
  for (uint64_t i = global_thread(); i < numel; i += grid_threads())
    if (!mask[i]) x[i] = T(0);
}

template <int D>
__global__ void column_sq_sum_kernel(const void* __restrict__ x_, float* __restrict__ acc, int64_t m, int64_t k) {
  const auto* x = (const typename Dt<D>::T*)x_;
  for (uint64_t j = global_thread(); j < (uint64_t)k; j += grid_threads()) {
    float s = 0.0f;
    for (int64_t i = 0; i < m; ++i) {
      const float v = Dt<D>::to_f32(x[i * k + (int64_t)j]);
      s = add_rn(s, mul_rn(v, v));
    }
    acc[j] = add_rn(acc[j], s);
  }
}

}  // namespace

tao_status sparse24(tao_ctx* ctx, Sparse24Op op, const Sparse24Call& c) {
  const char* name = op == Sparse24Op::Mask ? "tao_sparse24_mask" : op == Sparse24Op::Compress ? "tao_sparse24_compress" : "tao_sparse24_decompress";
  TAO_TRY(use_device(ctx, name));
  const unsigned grid = grid_for(ctx, (uint64_t)(c.n * (c.k / 4)), 256);
  if (c.dtype == TAO_I8) sparse24_kernel<TAO_I8><<<grid, 256, 0, stream_of(ctx)>>>(op, c);
  else TAO_SWITCH_WIDE_FLOAT(c.dtype, D, (sparse24_kernel<D><<<grid, 256, 0, stream_of(ctx)>>>(op, c)));
  return check_launch(name);
}

tao_status apply_mask(tao_ctx* ctx, void* x, int elem_size, const uint8_t* mask, uint64_t numel) {
  const char* op = "tao_apply_mask";
  TAO_TRY(use_device(ctx, op));
  const unsigned grid = grid_for(ctx, numel, 256);
  if (elem_size == 4) apply_mask_kernel<<<grid, 256, 0, stream_of(ctx)>>>((uint32_t*)x, mask, numel);
  else if (elem_size == 2) apply_mask_kernel<<<grid, 256, 0, stream_of(ctx)>>>((uint16_t*)x, mask, numel);
  else apply_mask_kernel<<<grid, 256, 0, stream_of(ctx)>>>((uint8_t*)x, mask, numel);
  return check_launch(op);
}

tao_status column_sq_sum(tao_ctx* ctx, const void* x, int dtype, float* acc, int64_t m, int64_t k) {
  const char* op = "tao_column_sq_sum";
  TAO_TRY(use_device(ctx, op));
  const unsigned grid = (unsigned)((k + 127) / 128);
  TAO_SWITCH_WIDE_FLOAT(dtype, D, (column_sq_sum_kernel<D><<<grid, 128, 0, stream_of(ctx)>>>(x, acc, m, k)));
  return check_launch(op);
}

namespace {

// y = x · Wᵀ (+ bias) on the compressed form: the m <= 8 kernels and the block kernel of the
// weight-only skeleton (its block kernel at every m: the GEMV geometries are tuned for other policies).
template <int D>
tao_status fused_sparse24(tao_ctx* ctx, const Sparse24LinearCall& c, const char* op) {
  using Block = wo::GemvConfig<0>;
  const Sparse24Rows::Args a{(const uint8_t*)c.values, c.meta, c.n, c.k};
  const wo::Shape s{c.m, c.n, c.k, 0, 0, 0, c.x, c.bias, c.y, nullptr, nullptr};
  return wo::launch_small<Sparse24Rows, Act<D>, Block, Block>(ctx, a, s, op);
}

}  // namespace

tao_status linear_sparse24(tao_ctx* ctx, const Sparse24LinearCall& c) {
  const char* op = "tao_linear_sparse24";
  TAO_TRY(use_device(ctx, op));
  if (c.dtype != TAO_F32 && c.m < wo::dense_from_m() && c.k % 32 == 0 && aligned_to(c.values, 16) && aligned_to(c.meta, 8))
    return c.dtype == TAO_F16 ? fused_sparse24<TAO_F16>(ctx, c, op) : fused_sparse24<TAO_BF16>(ctx, c, op);
  void* w = nullptr;
  const int es = c.dtype == TAO_F32 ? 4 : 2;
  TAO_TRY(alloc(ctx, (uint64_t)(c.n * c.k) * es, &w));
  tao_status s = sparse24(ctx, Sparse24Op::Decompress,
                          Sparse24Call{nullptr, w, c.dtype, nullptr, nullptr, c.values, nullptr, c.meta, nullptr, c.n, c.k});
  if (s == TAO_OK) s = linear(ctx, LinearCall{c.x, w, c.bias, c.y, c.dtype, c.m, c.n, c.k});
  const tao_status fs = release(ctx, w);
  return s != TAO_OK ? s : fs;
}

}  // namespace cuda
}  // namespace tao
