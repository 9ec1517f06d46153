// CUDA tao_attention: one flash-style kernel for prefill and decode, plus the flash-decoding combine.
//
// A block owns one (batch, kv head), a tile of queries and a chunk of the q heads that share that
// kv head (GQA), and one split of the key range. It walks its keys in tiles staged in shared memory
// (K and V rows in the input dtype, zero-padded to `width` = lanes·8 columns) and keeps, per
// (query, head) pair, an online softmax in registers: running max m and sum l in log2 units, and the
// unnormalized output acc. A row of head_dim is spread over `lpr` lanes (8 values each), so a dot
// product is 8 FMAs and log2(lpr) shuffles. Pairs map to "slots" (lpr-lane groups):
//  - PPS = 1 (few pairs, e.g. decode): several slots per pair, each taking every nsub-th key of a
//    tile; they are merged through shared memory at the end;
//  - PPS = 4 (prefill): each slot owns up to 4 pairs and reads every key.
// With one split the block writes the normalized output; with several (decode at short batch, where
// (batch, kv head) alone cannot fill the chip) each block writes an f32 partial (m, l, acc) and
// combine_kernel merges the splits. The grid depends only on sizes: `position` is read on the device,
// and splits past the live keys exit at once, so one captured graph serves every decode step.
// q's token rows are q_stride elements apart (the q heads of a fused q|k|v output, read in place).
#include "../common/convert.h"
#include "../common/dtype_switch.h"
#include "../common/llama_ops.h"
#include "launch.cuh"

namespace tao {
namespace cuda {

namespace {
constexpr int kThreads = 128;
constexpr int kEpl = 8;            // values of a row per lane
constexpr int kTileBytes = 8192;   // bytes of one K (or V) tile in shared memory

// The launch geometry, from the sizes alone.
struct Plan {
  int lpr, slots, heads_per_block, head_chunks, q_per_block, q_tiles, pps, tile_rows, splits;
  int64_t chunk;  // keys per split, a multiple of tile_rows
};

struct Params {
  AttentionCall c;
  Plan plan;
  float* part_acc;  // [rows · splits][width], rows = batch · q_len · q_heads
  float2* part_ml;  // [rows · splits]
  float scale_log2;
  bool vec;  // 16-byte loads of K/V rows
};

// Sum over the lpr lanes of a slot (lpr a power of two; the whole warp takes part).
__device__ __forceinline__ float slot_sum(float v, int lpr) {
  for (int o = lpr / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Merges softmax state (m2, l2, acc2) into (m, l, acc).
__device__ __forceinline__ void merge_state(float& m, float& l, float (&acc)[kEpl], float m2, float l2, const float* acc2) {
  const float mx = fmaxf(m, m2);
  if (mx == -INFINITY) return;
  const float a = exp2f(m - mx), b = exp2f(m2 - mx);
  l = l * a + l2 * b;
#pragma unroll
  for (int e = 0; e < kEpl; ++e) acc[e] = acc[e] * a + acc2[e] * b;
  m = mx;
}

// Stages rows [k0, k0 + rows) of one kv head of K (or V) into shared memory, zero-padding columns.
template <class T>
__device__ __forceinline__ void load_tile(T* tile, const T* src, int64_t k0, int rows, int64_t row_stride, int64_t dh,
                                          int lpr, bool vec) {
  const int width = lpr * kEpl;
  for (int i = threadIdx.x; i < rows * lpr; i += kThreads) {
    const int r = i / lpr, c = (i % lpr) * kEpl;
    const T* s = src + (k0 + r) * row_stride + c;
    Vec<T, kEpl> v;
    if (vec && c + kEpl <= dh) {
      v = *(const Vec<T, kEpl>*)s;
    } else {
#pragma unroll
      for (int e = 0; e < kEpl; ++e) v.v[e] = c + e < dh ? s[e] : T{};
    }
    *(Vec<T, kEpl>*)(tile + r * width + c) = v;
  }
}

template <int D, int PPS>
__global__ void __launch_bounds__(kThreads) attention_kernel(Params p) {
  using T = typename Dt<D>::T;
  __shared__ __align__(16) unsigned char k_smem[kTileBytes], v_smem[kTileBytes];
  __shared__ float merge_acc[kThreads * kEpl];
  __shared__ float2 merge_ml[kThreads];
  const AttentionCall& c = p.c;
  const Plan& pl = p.plan;
  const int lpr = pl.lpr, width = lpr * kEpl, slot = threadIdx.x / lpr, lane = threadIdx.x % lpr;
  const int64_t dh = c.head_dim, group = c.q_heads / c.kv_heads;
  const int64_t b = blockIdx.y / c.kv_heads, kvh = blockIdx.y % c.kv_heads;
  const int64_t t0 = (int64_t)(blockIdx.x / pl.head_chunks) * pl.q_per_block;
  const int64_t h0 = (int64_t)(blockIdx.x % pl.head_chunks) * pl.heads_per_block;
  const int nq = (int)min((int64_t)pl.q_per_block, c.q_len - t0), nh = (int)min((int64_t)pl.heads_per_block, group - h0);
  const int np = nq * nh;
  const int64_t base = c.q_offset + (c.position ? c.position[0] : 0);
  const int64_t lo = (int64_t)blockIdx.z * pl.chunk;
  int64_t hi = min(lo + pl.chunk, c.kv_len);
  if (c.causal) hi = min(hi, base + t0 + nq);  // keys beyond the block's last query's position are masked
  const int nsub = PPS == 1 ? max(1, pl.slots / np) : 1, sub = PPS == 1 ? slot / np : 0;

  float q[PPS][kEpl], acc[PPS][kEpl], m[PPS], l[PPS];
  int64_t lim[PPS], row[PPS];
#pragma unroll
  for (int j = 0; j < PPS; ++j) {
    const int pair = PPS == 1 ? slot % np : slot + j * pl.slots;
    const bool valid = PPS == 1 ? slot < np * nsub : pair < np;
    const int64_t t = t0 + pair / nh, h = kvh * group + h0 + pair % nh;
    row[j] = valid ? (b * c.q_len + t) * c.q_heads + h : -1;
    lim[j] = !valid ? lo : c.causal ? min(hi, base + t + 1) : hi;
    const T* qrow = (const T*)c.q + (b * c.q_len + t) * c.q_stride + h * dh;
#pragma unroll
    for (int e = 0; e < kEpl; ++e) {
      const int64_t d = lane * kEpl + e;
      q[j][e] = valid && d < dh ? Dt<D>::to_f32(qrow[d]) : 0.0f;
      acc[j][e] = 0;
    }
    m[j] = -INFINITY;
    l[j] = 0;
  }

  const int64_t row_stride = c.kv_heads * dh;
  const T* kb = (const T*)c.k + (b * c.kv_capacity * c.kv_heads + kvh) * dh;
  const T* vb = (const T*)c.v + (b * c.kv_capacity * c.kv_heads + kvh) * dh;
  const T* ks = (const T*)k_smem;
  const T* vs = (const T*)v_smem;
  for (int64_t k0 = lo; k0 < hi; k0 += pl.tile_rows) {
    const int rows = (int)min((int64_t)pl.tile_rows, hi - k0);
    __syncthreads();  // the previous tile is consumed
    load_tile((T*)k_smem, kb, k0, rows, row_stride, dh, lpr, p.vec);
    load_tile((T*)v_smem, vb, k0, rows, row_stride, dh, lpr, p.vec);
    __syncthreads();
    const int iters = (rows + nsub - 1) / nsub;  // the same in every slot: shuffles need the whole warp
    for (int it = 0; it < iters; ++it) {
      const int r = sub + it * nsub, rr = min(r, rows - 1);
      const Vec<T, kEpl> kv = *(const Vec<T, kEpl>*)(ks + rr * width + lane * kEpl);
      const Vec<T, kEpl> vv = *(const Vec<T, kEpl>*)(vs + rr * width + lane * kEpl);
      float kf[kEpl], vf[kEpl];
#pragma unroll
      for (int e = 0; e < kEpl; ++e) kf[e] = Dt<D>::to_f32(kv.v[e]), vf[e] = Dt<D>::to_f32(vv.v[e]);
#pragma unroll
      for (int j = 0; j < PPS; ++j) {
        float dot = 0;
#pragma unroll
        for (int e = 0; e < kEpl; ++e) dot = fmaf(q[j][e], kf[e], dot);
        dot = slot_sum(dot, lpr);
        if (r < rows && k0 + r < lim[j]) {
          const float s = dot * p.scale_log2, mx = fmaxf(m[j], s);
          const float corr = exp2f(m[j] - mx), w = exp2f(s - mx);
          l[j] = l[j] * corr + w;
#pragma unroll
          for (int e = 0; e < kEpl; ++e) acc[j][e] = fmaf(w, vf[e], acc[j][e] * corr);
          m[j] = mx;
        }
      }
    }
  }

  if (PPS == 1 && nsub > 1) {  // merge the slots that shared a pair into the sub-0 slot
#pragma unroll
    for (int e = 0; e < kEpl; ++e) merge_acc[threadIdx.x * kEpl + e] = acc[0][e];
    if (lane == 0) merge_ml[slot] = make_float2(m[0], l[0]);
    __syncthreads();
    if (sub == 0 && row[0] >= 0)
      for (int s2 = 1; s2 < nsub; ++s2) {
        const int other = s2 * np + slot;
        merge_state(m[0], l[0], acc[0], merge_ml[other].x, merge_ml[other].y, &merge_acc[(other * lpr + lane) * kEpl]);
      }
  }
  if (sub != 0) return;
#pragma unroll
  for (int j = 0; j < PPS; ++j) {
    if (row[j] < 0) continue;
    if (pl.splits == 1) {
      T* out = (T*)c.out + row[j] * dh;
      const float inv = l[j] > 0 ? 1.0f / l[j] : 0.0f;
#pragma unroll
      for (int e = 0; e < kEpl; ++e)
        if (lane * kEpl + e < dh) out[lane * kEpl + e] = Dt<D>::from_f32(acc[j][e] * inv);
    } else {
      const int64_t part = row[j] * pl.splits + blockIdx.z;
#pragma unroll
      for (int e = 0; e < kEpl; ++e) p.part_acc[part * width + lane * kEpl + e] = acc[j][e];
      if (lane == 0) p.part_ml[part] = make_float2(m[j], l[j]);
    }
  }
}

// out row = Σ_s acc_s · 2^(m_s − M) / Σ_s l_s · 2^(m_s − M) over the splits of one (b, t, head) row.
template <int D>
__global__ void combine_kernel(const float* __restrict__ part_acc, const float2* __restrict__ part_ml, void* out,
                               int64_t rows, int splits, int width, int64_t dh) {
  using T = typename Dt<D>::T;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float2* ml = part_ml + r * splits;
    float mx = -INFINITY;
    for (int s = 0; s < splits; ++s) mx = fmaxf(mx, ml[s].x);
    float l = 0;
    if (mx != -INFINITY)
      for (int s = 0; s < splits; ++s) l += ml[s].y * exp2f(ml[s].x - mx);
    for (int64_t d = threadIdx.x; d < dh; d += blockDim.x) {
      float a = 0;
      if (mx != -INFINITY)
        for (int s = 0; s < splits; ++s) a += part_acc[(r * splits + s) * width + d] * exp2f(ml[s].x - mx);
      ((T*)out)[r * dh + d] = Dt<D>::from_f32(l > 0 ? a / l : 0.0f);
    }
  }
}

Plan plan_for(tao_ctx* ctx, const AttentionCall& c) {
  Plan pl;
  pl.lpr = 1;
  while (pl.lpr * kEpl < c.head_dim) pl.lpr *= 2;
  pl.slots = kThreads / pl.lpr;
  const int64_t group = c.q_heads / c.kv_heads, pair_cap = 4 * pl.slots;
  pl.heads_per_block = (int)min(group, pair_cap);
  pl.head_chunks = (int)((group + pl.heads_per_block - 1) / pl.heads_per_block);
  pl.q_per_block = (int)min(c.q_len, max((int64_t)1, pair_cap / pl.heads_per_block));
  pl.q_tiles = (int)((c.q_len + pl.q_per_block - 1) / pl.q_per_block);
  pl.pps = pl.q_per_block * pl.heads_per_block <= pl.slots ? 1 : 4;
  const int elem = c.dtype == TAO_F32 ? 4 : 2;
  pl.tile_rows = (int)min(64, max(1, kTileBytes / (pl.lpr * kEpl * elem)));
  // Split the keys when the blocks alone cannot fill the chip (4 blocks per SM), keeping at least two
  // tiles per split.
  const int64_t blocks = (int64_t)pl.q_tiles * pl.head_chunks * c.batch * c.kv_heads;
  const int64_t target = 4 * (int64_t)sm_count(ctx->device);
  int64_t splits = blocks >= target ? 1 : (target + blocks - 1) / blocks;
  splits = max((int64_t)1, min(splits, c.kv_len / (2 * pl.tile_rows)));
  const int64_t per = (c.kv_len + splits - 1) / splits;
  pl.chunk = (per + pl.tile_rows - 1) / pl.tile_rows * pl.tile_rows;
  pl.splits = (int)((c.kv_len + pl.chunk - 1) / pl.chunk);
  return pl;
}
}  // namespace

tao_status attention(tao_ctx* ctx, const AttentionCall& c) {
  const char* op = "tao_attention";
  if (c.head_dim > 256) return fail(TAO_ERR_UNSUPPORTED, op, "head_dim=%lld: the CUDA kernel takes at most 256", (long long)c.head_dim);
  TAO_TRY(use_device(ctx, op));
  Params p{c, plan_for(ctx, c), nullptr, nullptr, (float)((double)c.scale * 1.4426950408889634), false};
  const Plan& pl = p.plan;
  if ((int64_t)pl.q_tiles * pl.head_chunks > 2147483647 || c.batch * c.kv_heads > 65535)
    return fail(TAO_ERR_UNSUPPORTED, op, "grid too large (batch · kv_heads = %lld)", (long long)(c.batch * c.kv_heads));
  p.vec = c.head_dim % kEpl == 0 && aligned_to(c.k, 16) && aligned_to(c.v, 16);
  const int64_t rows = c.batch * c.q_len * c.q_heads;
  void* scratch = nullptr;
  if (pl.splits > 1) {
    const uint64_t parts = (uint64_t)rows * pl.splits;
    TAO_TRY(alloc(ctx, parts * (pl.lpr * kEpl * sizeof(float) + sizeof(float2)), &scratch));
    p.part_ml = (float2*)scratch;
    p.part_acc = (float*)(p.part_ml + parts);
  }
  const dim3 grid((unsigned)(pl.q_tiles * pl.head_chunks), (unsigned)(c.batch * c.kv_heads), (unsigned)pl.splits);
  tao_status s = TAO_OK;
  TAO_SWITCH_WIDE_FLOAT(c.dtype, D, {
    if (pl.pps == 1) attention_kernel<D, 1><<<grid, kThreads, 0, stream_of(ctx)>>>(p);
    else attention_kernel<D, 4><<<grid, kThreads, 0, stream_of(ctx)>>>(p);
    s = check_launch(op);
    if (s == TAO_OK && pl.splits > 1) {
      const unsigned cgrid = (unsigned)(rows < 65535 ? rows : 65535);
      combine_kernel<D><<<cgrid, 128, 0, stream_of(ctx)>>>(p.part_acc, p.part_ml, c.out, rows, pl.splits, pl.lpr * kEpl, c.head_dim);
      s = check_launch(op);
    }
  });
  if (scratch) {
    const tao_status fs = release(ctx, scratch);
    if (s == TAO_OK) s = fs;
  }
  return s;
}

}  // namespace cuda
}  // namespace tao
