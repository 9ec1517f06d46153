// CUDA tao_binary and tao_binary_rows: a grid-stride loop over groups of 8 elements of a row, with
// vector loads and stores when every operand's rows are aligned to them, else one element per thread.
#include "../common/convert.h"
#include "../common/dtype_switch.h"
#include "../common/llama_ops.h"
#include "launch.cuh"

namespace tao {
namespace cuda {

namespace {
template <int OP>
__device__ __forceinline__ float binary_op(float a, float b) {
  return OP == TAO_BINARY_ADD ? add_rn(a, b) : OP == TAO_BINARY_MUL ? mul_rn(a, b) : silu_mul(a, b);
}

// Item i covers columns c0 = (i % per_row)·V .. min(c0 + V, cols) of row i / per_row: one vector
// load/store per operand when the whole group is in the row, else element by element (the row's tail).
template <int D, int OP, int V>
__global__ void binary_kernel(BinaryCall c, uint64_t per_row) {
  using T = typename Dt<D>::T;
  const uint64_t items = (uint64_t)c.rows * per_row, cols = (uint64_t)c.cols;
  for (uint64_t i = global_thread(); i < items; i += grid_threads()) {
    const uint64_t r = i / per_row, c0 = (i % per_row) * V;
    const T* a = (const T*)c.a + r * c.a_stride + c0;
    const T* b = (const T*)c.b + r * c.b_stride + c0;
    T* y = (T*)c.y + r * c.y_stride + c0;
    if (c0 + V <= cols) {
      const Vec<T, V> va = *(const Vec<T, V>*)a, vb = *(const Vec<T, V>*)b;
      Vec<T, V> vy;
#pragma unroll
      for (int e = 0; e < V; ++e) vy.v[e] = Dt<D>::from_f32(binary_op<OP>(Dt<D>::to_f32(va.v[e]), Dt<D>::to_f32(vb.v[e])));
      *(Vec<T, V>*)y = vy;
    } else {
      for (uint64_t e = 0; c0 + e < cols; ++e) y[e] = Dt<D>::from_f32(binary_op<OP>(Dt<D>::to_f32(a[e]), Dt<D>::to_f32(b[e])));
    }
  }
}

// Vector groups of 8 when every row of every operand starts 16-byte aligned, else single elements.
template <int D, int OP>
void launch_binary(tao_ctx* ctx, const BinaryCall& c) {
  using T = typename Dt<D>::T;
  constexpr int V = 8;
  const auto rows_aligned = [&](const void* p, int64_t stride) {
    return aligned_to(p, 16) && (c.rows == 1 || stride * (int64_t)sizeof(T) % 16 == 0);
  };
  if (rows_aligned(c.a, c.a_stride) && rows_aligned(c.b, c.b_stride) && rows_aligned(c.y, c.y_stride)) {
    const uint64_t per_row = ((uint64_t)c.cols + V - 1) / V;
    binary_kernel<D, OP, V><<<grid_for(ctx, c.rows * per_row, 256), 256, 0, stream_of(ctx)>>>(c, per_row);
  } else {
    binary_kernel<D, OP, 1><<<grid_for(ctx, c.rows * c.cols, 256), 256, 0, stream_of(ctx)>>>(c, (uint64_t)c.cols);
  }
}
}  // namespace

tao_status binary(tao_ctx* ctx, const BinaryCall& c) {
  TAO_TRY(use_device(ctx, "tao_binary"));
  TAO_SWITCH_WIDE_FLOAT(c.dtype, D, {
    if (c.op == TAO_BINARY_ADD) launch_binary<D, TAO_BINARY_ADD>(ctx, c);
    else if (c.op == TAO_BINARY_MUL) launch_binary<D, TAO_BINARY_MUL>(ctx, c);
    else launch_binary<D, TAO_BINARY_SILU_MUL>(ctx, c);
  });
  return check_launch("tao_binary");
}

}  // namespace cuda
}  // namespace tao
