// CUDA pack / unpack / dequantize of the tinygemm int4 layout (kernels/common/int4_tiled.h).
// Pack and unpack: one packed word per thread, consecutive threads on consecutive words (layout
// conversions run once per weight). Dequantize feeds the large-m linear, so it is built for
// bandwidth: one thread per 8 consecutive k of a row, a warp storing 512 contiguous bytes.
#include "../common/backend.h"
#include "../common/int4_tiled.h"
#include "launch.cuh"

namespace tao {
namespace cuda {

namespace {

__global__ void int4_tiled_kernel(Int4Op op, Int4TiledCall c) {
  for (uint64_t w = global_thread(); w < (uint64_t)c.g.words; w += grid_threads()) int4_tiled_step(op, c, (int64_t)w);
}

// out[n][8c .. 8c + 8) for each (row n, chunk c) item, chunks of a row on consecutive threads, so a
// warp stores 512 contiguous bytes. Chunk c is k = 32·span + 8h + 2q + e (h = c % 4, e = 0, 1): nibbles
// h and h + 4 of word j = span % (T/2) of lanes 4g..4g+3 (g = n % 8) in its k-outer block; the four
// threads of a span read the same words (L1 hits). One quantization group per span (groups are
// multiples of 32).
template <int T>
__global__ void int4_tiled_dequantize_kernel(Int4TiledCall c) {
  const uint32_t chunks = (uint32_t)(c.g.k / 8), items = (uint32_t)c.g.n * chunks;  // the caller checked items < 2^31
  const uint32_t* packed = (const uint32_t*)c.src;
  const uint16_t* sz = (const uint16_t*)c.sz;
  for (uint32_t i = (uint32_t)global_thread(); i < items; i += (uint32_t)grid_threads()) {
    const int64_t n = i / chunks, chunk = i % chunks, span = chunk / 4, h = chunk % 4;
    const int64_t ko = span / (T / 2), j = span % (T / 2), k0 = 8 * chunk;
    const uint32_t* words = packed + ((n / 8 * c.g.k_outer + ko) * 32 + 4 * (n % 8)) * (T / 2) + j;
    const uint16_t* p = sz + (((uint32_t)k0 / (uint32_t)c.group) * c.g.n + n) * 2;
    const float scale = bf16_to_f32(p[0]), zero = bf16_to_f32(p[1]);
    Vec<uint16_t, 8> out;
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const uint32_t w = words[q * (T / 2)] >> (4 * h);
#pragma unroll
      for (int e = 0; e < 2; ++e)
        out.v[2 * q + e] = f32_to_bf16(fma_f(sub_rn((float)((w >> (16 * e)) & 0xF), 8.0f), scale, zero));
    }
    *(Vec<uint16_t, 8>*)((uint16_t*)c.dst + n * c.g.k + k0) = out;
  }
}

}  // namespace

tao_status int4_tiled(tao_ctx* ctx, Int4Op op, const Int4TiledCall& c) {
  const char* name = "tao_int4_tensor_core_tiled";
  TAO_TRY(use_device(ctx, name));
  if (op == Int4Op::Dequantize && aligned_to(c.dst, 16) && (uint64_t)c.g.n * (c.g.k / 8) < (1ull << 31)) {
    const uint64_t items = (uint64_t)c.g.n * (c.g.k / 8);
    const unsigned grid = grid_for(ctx, items, 256);
    if (c.g.tiles == 2) int4_tiled_dequantize_kernel<2><<<grid, 256, 0, stream_of(ctx)>>>(c);
    else if (c.g.tiles == 4) int4_tiled_dequantize_kernel<4><<<grid, 256, 0, stream_of(ctx)>>>(c);
    else int4_tiled_dequantize_kernel<8><<<grid, 256, 0, stream_of(ctx)>>>(c);
  } else {
    int4_tiled_kernel<<<grid_for(ctx, (uint64_t)c.g.words, 256), 256, 0, stream_of(ctx)>>>(op, c);
  }
  return check_launch(name);
}

}  // namespace cuda
}  // namespace tao
