// CUDA tao_embedding: one block per id (grid-stride over ids), the row copied as 16-byte vectors
// when rows and buffers allow it. The id is checked on the device: out of range writes zeros.
#include "../common/dtype.h"
#include "../common/llama_ops.h"
#include "launch.cuh"

namespace tao {
namespace cuda {

namespace {
// out row i = table row ids[i] (U: the unit copied, 16 bytes or one element); units per row `units`.
template <class U>
__global__ void embedding_kernel(const int32_t* __restrict__ ids, int64_t n, const U* __restrict__ table, int64_t vocab,
                                 int64_t units, U* __restrict__ out) {
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const int32_t id = ids[i];
    const bool ok = id >= 0 && id < vocab;
    const U* src = table + (ok ? id : 0) * units;
    U* dst = out + i * units;
    for (int64_t j = threadIdx.x; j < units; j += blockDim.x) dst[j] = ok ? src[j] : U{};
  }
}
}  // namespace

tao_status embedding(tao_ctx* ctx, const int32_t* ids, int64_t n, const void* table, int dtype, int64_t vocab,
                     int64_t dim, void* out) {
  const char* op = "tao_embedding";
  TAO_TRY(use_device(ctx, op));
  const int64_t row = dim * dtype_size(dtype);
  const unsigned grid = (unsigned)(n < 65535 ? n : 65535);
  if (row % 16 == 0 && aligned_to(table, 16) && aligned_to(out, 16))
    embedding_kernel<uint4><<<grid, 128, 0, stream_of(ctx)>>>(ids, n, (const uint4*)table, vocab, row / 16, (uint4*)out);
  else if (dtype == TAO_F32)
    embedding_kernel<uint32_t><<<grid, 128, 0, stream_of(ctx)>>>(ids, n, (const uint32_t*)table, vocab, dim, (uint32_t*)out);
  else
    embedding_kernel<uint16_t><<<grid, 128, 0, stream_of(ctx)>>>(ids, n, (const uint16_t*)table, vocab, dim, (uint16_t*)out);
  return check_launch(op);
}

}  // namespace cuda
}  // namespace tao
