// CUDA tao_argmax and tao_sample.
// argmax: one block per row, a strided scan then a block reduction with tao.h's rule (NaN first,
// then larger, then lower index).
// sample: (1) with top_k, one block per row finds the k-th largest order key by radix select (four
// 8-bit passes, shared-memory histograms); (2) blocks over vocabulary chunks take the Gumbel-max over
// their kept logits (shared host/device score, llama_ops.h); (3) one block per row reduces the chunks.
// Same rule and the same bits as the CPU, so the same token.
#include "../common/convert.h"
#include "../common/dtype_switch.h"
#include "../common/llama_ops.h"
#include "launch.cuh"

namespace tao {
namespace cuda {

namespace {
constexpr int kThreads = 256;
constexpr int kChunk = 4096;  // vocabulary entries per block of the Gumbel kernel

// (value, index) candidates of argmax: does a beat b?
__device__ __forceinline__ bool argmax_beats(float a, int64_t ia, float b, int64_t ib) {
  const bool an = a != a, bn = b != b;
  if (an != bn) return an;
  if (!an && a != b) return a > b;
  return ia < ib;
}

// (score, index) candidates of the Gumbel-max (index < 0: none): does a beat b?
__device__ __forceinline__ bool score_beats(double a, int64_t ia, double b, int64_t ib) {
  if ((ia < 0) != (ib < 0)) return ib < 0;
  if (a != b) return a > b;
  return ia < ib;
}

// Block-wide reduction of (key, index) pairs under `beats`; thread 0 gets the winner.
template <class K, class Beats>
__device__ void block_best(K& key, int64_t& idx, Beats beats) {
  __shared__ K keys[kThreads / 32];
  __shared__ int64_t idxs[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) {
    const K k2 = __shfl_xor_sync(0xffffffffu, key, o);
    const int64_t i2 = __shfl_xor_sync(0xffffffffu, idx, o);
    if (beats(k2, i2, key, idx)) key = k2, idx = i2;
  }
  __syncthreads();
  if (threadIdx.x % 32 == 0) keys[threadIdx.x / 32] = key, idxs[threadIdx.x / 32] = idx;
  __syncthreads();
  if (threadIdx.x == 0)
    for (int w = 1; w < kThreads / 32; ++w)
      if (beats(keys[w], idxs[w], key, idx)) key = keys[w], idx = idxs[w];
}

template <int D>
__global__ void __launch_bounds__(kThreads) argmax_kernel(const typename Dt<D>::T* __restrict__ x, int64_t rows, int64_t n,
                                                          int32_t* out) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    float best = Dt<D>::to_f32(x[r * n]);
    int64_t at = 0;
    for (int64_t j = threadIdx.x; j < n; j += kThreads) {
      const float v = Dt<D>::to_f32(x[r * n + j]);
      if (argmax_beats(v, j, best, at)) best = v, at = j;
    }
    block_best(best, at, argmax_beats);
    if (threadIdx.x == 0) out[r] = (int32_t)at;
    __syncthreads();
  }
}

// threshold[r] = max(k-th largest order key of row r, 1), by radix select from the top byte down.
template <int D>
__global__ void __launch_bounds__(kThreads) topk_threshold_kernel(const typename Dt<D>::T* __restrict__ x, int64_t vocab,
                                                                  int64_t k, uint32_t* threshold) {
  __shared__ uint32_t hist[256];
  __shared__ uint32_t chosen, remaining;
  const int64_t r = blockIdx.x;
  uint32_t prefix = 0, mask = 0;
  if (threadIdx.x == 0) remaining = (uint32_t)k;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int i = threadIdx.x; i < 256; i += kThreads) hist[i] = 0;
    __syncthreads();
    for (int64_t j = threadIdx.x; j < vocab; j += kThreads) {
      const uint32_t key = float_order_key(Dt<D>::to_f32(x[r * vocab + j]));
      if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1u);
    }
    __syncthreads();
    if (threadIdx.x == 0) {  // the digit holding the remaining-th largest, counting from the top
      uint32_t above = 0;
      int d = 255;
      while (above + hist[d] < remaining) above += hist[d--];
      chosen = (uint32_t)d;
      remaining -= above;
    }
    __syncthreads();
    prefix |= chosen << shift;
    mask |= 255u << shift;
  }
  if (threadIdx.x == 0) threshold[r] = prefix > 1 ? prefix : 1;
}

// partial[(r, chunk)] = best (score, index) over the kept logits of one vocabulary chunk.
template <int D>
__global__ void __launch_bounds__(kThreads) gumbel_kernel(SampleCall c, const uint32_t* threshold, double* score,
                                                          int64_t* index) {
  using T = typename Dt<D>::T;
  const int64_t r = blockIdx.y, j0 = (int64_t)blockIdx.x * kChunk, j1 = min(j0 + kChunk, c.vocab);
  const uint64_t step = (uint32_t)(c.position ? c.position[0] : 0);
  const uint32_t th = threshold ? threshold[r] : 1;
  double best = 0;
  int64_t at = -1;
  for (int64_t j = j0 + threadIdx.x; j < j1; j += kThreads) {
    const float v = Dt<D>::to_f32(((const T*)c.logits)[r * c.vocab + j]);
    if (float_order_key(v) < th) continue;
    const double z = gumbel_score(div_rn(v, c.temperature), c.seed, (step * c.rows + r) * c.vocab + j);
    if (score_beats(z, j, best, at)) best = z, at = j;
  }
  block_best(best, at, score_beats);
  if (threadIdx.x == 0) score[r * gridDim.x + blockIdx.x] = best, index[r * gridDim.x + blockIdx.x] = at;
}

__global__ void __launch_bounds__(kThreads) pick_kernel(const double* score, const int64_t* index, int64_t chunks,
                                                        int32_t* out) {
  const int64_t r = blockIdx.x;
  double best = 0;
  int64_t at = -1;
  for (int64_t i = threadIdx.x; i < chunks; i += kThreads)
    if (score_beats(score[r * chunks + i], index[r * chunks + i], best, at)) best = score[r * chunks + i], at = index[r * chunks + i];
  block_best(best, at, score_beats);
  if (threadIdx.x == 0) out[r] = (int32_t)(at < 0 ? 0 : at);
}
}  // namespace

tao_status argmax(tao_ctx* ctx, const void* x, int dtype, int64_t rows, int64_t n, int32_t* out) {
  TAO_TRY(use_device(ctx, "tao_argmax"));
  const unsigned grid = (unsigned)(rows < 65535 ? rows : 65535);
  TAO_SWITCH_WIDE_FLOAT(dtype, D,
                        argmax_kernel<D><<<grid, kThreads, 0, stream_of(ctx)>>>((const typename Dt<D>::T*)x, rows, n, out));
  return check_launch("tao_argmax");
}

tao_status sample(tao_ctx* ctx, const SampleCall& c) {
  const char* op = "tao_sample";
  TAO_TRY(use_device(ctx, op));
  if (c.rows > 65535) return fail(TAO_ERR_UNSUPPORTED, op, "rows=%lld: at most 65535 on CUDA", (long long)c.rows);
  const int64_t chunks = (c.vocab + kChunk - 1) / kChunk;
  const uint64_t bytes = (uint64_t)(c.rows * chunks) * (sizeof(double) + sizeof(int64_t)) + (uint64_t)c.rows * sizeof(uint32_t);
  void* scratch = nullptr;
  TAO_TRY(alloc(ctx, bytes, &scratch));
  double* score = (double*)scratch;
  int64_t* index = (int64_t*)(score + c.rows * chunks);
  uint32_t* threshold = c.top_k ? (uint32_t*)(index + c.rows * chunks) : nullptr;
  tao_status s = TAO_OK;
  TAO_SWITCH_WIDE_FLOAT(c.dtype, D, {
    using T = typename Dt<D>::T;
    if (threshold) topk_threshold_kernel<D><<<(unsigned)c.rows, kThreads, 0, stream_of(ctx)>>>((const T*)c.logits, c.vocab, c.top_k, threshold);
    s = check_launch(op);
    if (s == TAO_OK) {
      gumbel_kernel<D><<<dim3((unsigned)chunks, (unsigned)c.rows), kThreads, 0, stream_of(ctx)>>>(c, threshold, score, index);
      s = check_launch(op);
    }
  });
  if (s == TAO_OK) {
    pick_kernel<<<(unsigned)c.rows, kThreads, 0, stream_of(ctx)>>>(score, index, chunks, c.out);
    s = check_launch(op);
  }
  const tao_status fs = release(ctx, scratch);
  return s != TAO_OK ? s : fs;
}

}  // namespace cuda
}  // namespace tao
