// CUDA tao_gptq_quantize. The rows are independent; the columns are sequential within a block:
//  1. prep_kernel: W' [n, k] f32 = w in perm order, dead columns zeroed (scratch).
//  2. static groups: params_kernel, one thread per (row, group), from w itself.
//  3. per block of columns [i1, i2): block_kernel, one warp per row, the block's values in registers
//     (lane l holds columns i1 + 32·s + l, s < S): for each column the owner lane's value is broadcast
//     (shuffle), every lane computes the same code and error, the owner keeps them, and each lane
//     updates its own later columns with one fma against U's row (read from global: every warp reads
//     the same 128 rows of U, so they stay in L1/L2). Group parameters (non-static) come from a warp
//     min/max reduction over the group's columns when its first column comes up. Then the block's
//     errors [n, count] update the later columns: W'[:, i2:] −= Err · U[i1:i2, i2:] (gptq_gemm.cuh,
//     fma over the block's columns in order, then one subtraction, as the CPU does).
#include "../common/dtype_switch.h"
#include "../common/gptq.h"
#include "gptq_gemm.cuh"

namespace tao {
namespace cuda {

namespace {

constexpr unsigned kFull = 0xffffffffu;
constexpr int kWarps = 8;  // rows per 256-thread block

// W'[r][i] = w[r][perm[i]] (0 for a dead column or a perm entry outside [0, k)).
template <int D>
__global__ void prep_kernel(GptqSweepCall c, float* __restrict__ wp) {
  const auto* w = (const typename Dt<D>::T*)c.w;
  const int64_t k = c.k;
  for (uint64_t e = global_thread(); e < (uint64_t)(c.n * k); e += grid_threads()) {
    const int64_t r = (int64_t)e / k, i = (int64_t)e % k;
    const int64_t col = c.perm ? c.perm[i] : i;
    wp[e] = col >= 0 && col < k && c.h[col * k + col] != 0.0f ? Dt<D>::to_f32(w[r * k + col]) : 0.0f;
  }
}

// Static groups: s, z of group g of row r from w (dead columns as 0), natural order.
template <int D>
__global__ void params_kernel(GptqSweepCall c) {
  const auto* w = (const typename Dt<D>::T*)c.w;
  const int64_t k = c.k, groups = k / c.group;
  for (uint64_t e = global_thread(); e < (uint64_t)(c.n * groups); e += grid_threads()) {
    const int64_t r = (int64_t)e / groups, j0 = ((int64_t)e % groups) * c.group;
    float mn = 0.0f, mx = 0.0f;
    for (int64_t j = j0; j < j0 + c.group; ++j) {
      const float v = c.h[j * k + j] == 0.0f ? 0.0f : Dt<D>::to_f32(w[r * k + j]);
      mn = j == j0 || v < mn ? v : mn;
      mx = j == j0 || v > mx ? v : mx;
    }
    gptq_group_params(gptq_levels(c.bits), mn, mx, c.scale + e, c.zero + e);
  }
}

// One block of columns [i1, i1 + count) for every row (see the file comment); err [n, count].
template <int S>
__global__ void __launch_bounds__(32 * kWarps) block_kernel(GptqSweepCall c, const float* __restrict__ wp, int64_t i1,
                                                            int count, float* __restrict__ err) {
  const int lane = threadIdx.x & 31;
  const int64_t r = (int64_t)blockIdx.x * kWarps + (threadIdx.x >> 5);
  if (r >= c.n) return;
  const int64_t k = c.k, groups = k / c.group;
  const GptqLevels lv = gptq_levels(c.bits);
  float v[S], ev[S];
  uint8_t qv[S];
#pragma unroll
  for (int s = 0; s < S; ++s) {
    const int j = 32 * s + lane;
    v[s] = j < count ? wp[r * k + i1 + j] : 0.0f;
    ev[s] = 0.0f;
    qv[s] = 0;
  }
  float gs = 0.0f, gz = 0.0f;  // the current group's parameters (non-static)
#pragma unroll
  for (int s = 0; s < S; ++s) {
    for (int l = 0; l < 32; ++l) {
      const int i = 32 * s + l;
      if (i >= count) break;
      const int64_t col = i1 + i;
      const int32_t pc = c.perm ? c.perm[col] : (int32_t)col;
      const int64_t g = r * groups + (pc >= 0 && pc < k ? pc : 0) / c.group;
      const float x = __shfl_sync(kFull, v[s], l);
      if (!c.static_groups && col % c.group == 0) {
        float mn = INFINITY, mx = -INFINITY;
#pragma unroll
        for (int t = 0; t < S; ++t) {
          const int j = 32 * t + lane;
          if (j >= i && j < i + c.group) {
            mn = fminf(mn, v[t]);
            mx = fmaxf(mx, v[t]);
          }
        }
        for (int o = 16; o > 0; o >>= 1) {
          mn = fminf(mn, __shfl_xor_sync(kFull, mn, o));
          mx = fmaxf(mx, __shfl_xor_sync(kFull, mx, o));
        }
        gptq_group_params(lv, mn, mx, &gs, &gz);
        if (lane == 0) {
          c.scale[g] = gs;
          c.zero[g] = gz;
        }
      }
      const float sc = c.static_groups ? c.scale[g] : gs, zc = c.static_groups ? c.zero[g] : gz;
      const uint8_t q = gptq_code(lv, x, sc, zc);
      const float* ui = c.u + col * k + i1;
      const float e = __fdiv_rn(__fsub_rn(x, gptq_dequant(lv, q, sc, zc)), ui[i]);
      if (lane == l) {
        qv[s] = q;
        ev[s] = e;
      }
#pragma unroll
      for (int t = s; t < S; ++t) {
        const int j = 32 * t + lane;
        if (j > i && j < count) v[t] = __fmaf_rn(-e, ui[j], v[t]);
      }
    }
  }
#pragma unroll
  for (int s = 0; s < S; ++s) {
    const int j = 32 * s + lane;
    if (j >= count) continue;
    err[r * count + j] = ev[s];
    const int32_t pc = c.perm ? c.perm[i1 + j] : (int32_t)(i1 + j);
    if (pc >= 0 && pc < k) c.q[r * k + pc] = qv[s];
  }
}

template <int S>
void launch_block(tao_ctx* ctx, const GptqSweepCall& c, const float* wp, int64_t i1, int count, float* err) {
  const unsigned grid = (unsigned)((c.n + kWarps - 1) / kWarps);
  block_kernel<S><<<grid, 32 * kWarps, 0, stream_of(ctx)>>>(c, wp, i1, count, err);
}

// Scratch of one sweep, released on every path.
struct Scratch {
  tao_ctx* ctx;
  float* wp = nullptr;   // [n, k]
  float* err = nullptr;  // [n, block]
  ~Scratch() {
    for (float* p : {wp, err})
      if (p) release(ctx, p);
  }
};

}  // namespace

tao_status gptq_quantize(tao_ctx* ctx, const GptqSweepCall& c) {
  const char* op = "tao_gptq_quantize";
  TAO_TRY(use_device(ctx, op));
  if ((c.n + kWarps - 1) / kWarps > 0x7fffffff) return fail(TAO_ERR_UNSUPPORTED, op, "n=%lld is too large", (long long)c.n);
  const int64_t n = c.n, k = c.k;
  Scratch s{ctx};
  TAO_TRY(alloc(ctx, (uint64_t)(n * k) * 4, (void**)&s.wp));
  TAO_TRY(alloc(ctx, (uint64_t)(n * c.block) * 4, (void**)&s.err));
  const cudaStream_t st = stream_of(ctx);
  TAO_SWITCH_WIDE_FLOAT(c.w_dtype, D, {
    prep_kernel<D><<<grid_for(ctx, (uint64_t)(n * k), 256), 256, 0, st>>>(c, s.wp);
    if (c.static_groups) params_kernel<D><<<grid_for(ctx, (uint64_t)(n * (k / c.group)), 256), 256, 0, st>>>(c);
  });
  TAO_TRY(check_launch(op));
  for (int64_t i1 = 0; i1 < k; i1 += c.block) {
    const int count = (int)(k - i1 < c.block ? k - i1 : c.block);
    if (count <= 32) launch_block<1>(ctx, c, s.wp, i1, count, s.err);
    else if (count <= 64) launch_block<2>(ctx, c, s.wp, i1, count, s.err);
    else if (count <= 128) launch_block<4>(ctx, c, s.wp, i1, count, s.err);
    else launch_block<8>(ctx, c, s.wp, i1, count, s.err);
    TAO_TRY(check_launch(op));
    const int64_t i2 = i1 + count;
    // W'[:, i2:] −= Err · U[i1:i2, i2:]: A = Err [n, count], B(j, t) = U[(i1 + t)·k + i2 + j].
    const gptq::GemmArgs<float, float> g{s.err, c.u + i1 * k + i2, s.wp + i2, n, k - i2, count, count, k, k, -1.0f, 1.0f, false};
    TAO_TRY((gptq::gemm<float, gptq::Same<float>, false, true>(ctx, op, g)));
  }
  return TAO_OK;
}

}  // namespace cuda
}  // namespace tao
