// Entry points of the tinygemm int4 tensor-core-tiled layout: pack, unpack, dequantize.
#include "backend.h"
#include "checks.h"
#include "status.h"

namespace tao {
namespace {

// Checks the layout geometry (and the group size when with_group) and fills g.
tao_status check_geometry(const char* name, int64_t n, int64_t k, int32_t tiles, bool with_group, int32_t group,
                          Int4Tiled* g) {
  if (tiles != 2 && tiles != 4 && tiles != 8)
    return fail(TAO_ERR_INVALID_ARGUMENT, name, "inner_k_tiles=%d must be 2, 4 or 8", tiles);
  if (n < 8 || n % 8 != 0) return fail(TAO_ERR_INVALID_ARGUMENT, name, "n=%lld must be a positive multiple of 8", (long long)n);
  if (k < 1 || k % (16 * tiles) != 0)
    return fail(TAO_ERR_INVALID_ARGUMENT, name, "k=%lld must be a positive multiple of 16 * inner_k_tiles = %d", (long long)k,
                16 * tiles);
  if (n > (1LL << 31) || k > (1LL << 31) || (double)n * (double)k > 4e18)
    return fail(TAO_ERR_INVALID_ARGUMENT, name, "n=%lld, k=%lld too large", (long long)n, (long long)k);
  if (with_group) {
    if (group != 32 && group != 64 && group != 128 && group != 256)
      return fail(TAO_ERR_INVALID_ARGUMENT, name, "group_size=%d must be 32, 64, 128 or 256", group);
    if (k % group != 0) return fail(TAO_ERR_INVALID_ARGUMENT, name, "group_size=%d does not divide k=%lld", group, (long long)k);
  }
  *g = Int4Tiled{n, k, tiles, k / (16 * tiles), n * k / 8};
  return TAO_OK;
}

tao_status run(tao_ctx* ctx, Int4Op op, const char* name, const void* src, void* dst, const void* sz, int64_t n, int64_t k,
               int32_t tiles, int32_t group) {
  TAO_TRY(check_ctx(ctx, name));
  Int4Tiled g;
  TAO_TRY(check_geometry(name, n, k, tiles, op == Int4Op::Dequantize, group, &g));
  if (op == Int4Op::Dequantize) TAO_TRY(check_buffer(ctx, sz, name, "scales_and_zeros"));
  TAO_TRY(check_buffer(ctx, src, name, op == Int4Op::Pack ? "q" : "packed"));
  TAO_TRY(check_buffer(ctx, dst, name, op == Int4Op::Pack ? "packed" : op == Int4Op::Unpack ? "q" : "out"));
  Int4TiledCall c{g, src, dst, sz, group};
  TAO_DISPATCH(ctx, cpu::int4_tiled(op, c), cuda::int4_tiled(ctx, op, c));
}

}  // namespace
}  // namespace tao

extern "C" {

tao_status tao_linear_int4_tensor_core_tiled(tao_ctx* ctx, const void* x, const void* packed, const void* scales_and_zeros,
                                             const void* bias, void* y, int32_t dtype, int64_t m, int64_t n, int64_t k,
                                             int32_t inner_k_tiles, int32_t group_size) {
  using namespace tao;
  const char* name = "tao_linear_int4_tensor_core_tiled";
  TAO_TRY(check_ctx(ctx, name));
  Int4Tiled g;
  TAO_TRY(check_geometry(name, n, k, inner_k_tiles, true, group_size, &g));
  if (dtype != TAO_BF16 && dtype != TAO_F16) return fail(TAO_ERR_INVALID_ARGUMENT, name, "dtype=%d must be TAO_BF16 or TAO_F16", dtype);
  if (m < 1 || m > (1LL << 31)) return fail(TAO_ERR_INVALID_ARGUMENT, name, "m=%lld must be in 1..2^31", (long long)m);
  TAO_TRY(check_buffer(ctx, x, name, "x"));
  TAO_TRY(check_buffer(ctx, packed, name, "packed"));
  TAO_TRY(check_buffer(ctx, scales_and_zeros, name, "scales_and_zeros"));
  if (bias) TAO_TRY(check_buffer(ctx, bias, name, "bias"));
  TAO_TRY(check_buffer(ctx, y, name, "y"));
  const Int4LinearCall c{g, x, packed, scales_and_zeros, bias, y, dtype, m, group_size};
  TAO_DISPATCH(ctx, cpu::int4_tiled_linear(c), cuda::int4_tiled_linear(ctx, c));
}

tao_status tao_pack_int4_tensor_core_tiled(tao_ctx* ctx, const void* q, void* packed, int64_t n, int64_t k,
                                           int32_t inner_k_tiles) {
  return tao::run(ctx, tao::Int4Op::Pack, "tao_pack_int4_tensor_core_tiled", q, packed, nullptr, n, k, inner_k_tiles, 0);
}

tao_status tao_unpack_int4_tensor_core_tiled(tao_ctx* ctx, const void* packed, void* q, int64_t n, int64_t k,
                                             int32_t inner_k_tiles) {
  return tao::run(ctx, tao::Int4Op::Unpack, "tao_unpack_int4_tensor_core_tiled", packed, q, nullptr, n, k, inner_k_tiles, 0);
}

tao_status tao_dequantize_int4_tensor_core_tiled(tao_ctx* ctx, const void* packed, const void* scales_and_zeros, void* out,
                                                 int64_t n, int64_t k, int32_t inner_k_tiles, int32_t group_size) {
  return tao::run(ctx, tao::Int4Op::Dequantize, "tao_dequantize_int4_tensor_core_tiled", packed, out, scales_and_zeros, n, k,
                  inner_k_tiles, group_size);
}

}  // extern "C"
