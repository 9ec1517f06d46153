// CUDA tao_rope: one thread per (token, pair, group of 8 heads) computes the pair's cos/sin (f64,
// shared code with the CPU in llama_ops.h) and rotates that pair in its heads. The position is read
// from the device when the kernel runs (graph replay).
#include "../common/convert.h"
#include "../common/dtype_switch.h"
#include "../common/llama_ops.h"
#include "launch.cuh"

namespace tao {
namespace cuda {

namespace {
constexpr int kHeadsPerThread = 8;

template <int D>
__global__ void rope_kernel(RopeCall c, int64_t head_groups) {
  using T = typename Dt<D>::T;
  const int64_t pairs = c.head_dim / 2;
  const uint64_t items = (uint64_t)(c.batch * c.seq * head_groups * pairs);
  for (uint64_t it = global_thread(); it < items; it += grid_threads()) {
    const int64_t i = it % pairs, hg = (it / pairs) % head_groups, tok = it / (pairs * head_groups);
    const int64_t pos = c.positions ? c.positions[tok] : (c.position ? c.position[0] : 0) + c.offset + tok % c.seq;
    float cs, sn;
    rope_cos_sin(pos, i, c.head_dim, c.theta, &cs, &sn);
    int64_t ia, ib;
    rope_pair(c.style, i, c.head_dim, &ia, &ib);
    const int64_t h_end = min((hg + 1) * kHeadsPerThread, c.heads);
    for (int64_t h = hg * kHeadsPerThread; h < h_end; ++h) {
      const uint64_t row = tok * c.stride + h * c.head_dim;
      const T* x = (const T*)c.x + row;
      T* y = (T*)c.y + row;
      float y0, y1;
      rope_rotate(Dt<D>::to_f32(x[ia]), Dt<D>::to_f32(x[ib]), cs, sn, &y0, &y1);
      y[ia] = Dt<D>::from_f32(y0);
      y[ib] = Dt<D>::from_f32(y1);
    }
  }
}
}  // namespace

tao_status rope(tao_ctx* ctx, const RopeCall& c) {
  const char* op = "tao_rope";
  TAO_TRY(use_device(ctx, op));
  const int64_t groups = (c.heads + kHeadsPerThread - 1) / kHeadsPerThread;
  const uint64_t items = (uint64_t)(c.batch * c.seq * groups * (c.head_dim / 2));
  TAO_SWITCH_WIDE_FLOAT(c.dtype, D, rope_kernel<D><<<grid_for(ctx, items, 128), 128, 0, stream_of(ctx)>>>(c, groups));
  return check_launch(op);
}

}  // namespace cuda
}  // namespace tao
