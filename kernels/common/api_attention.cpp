// Entry points of attention and its KV cache: tao_attention (+ tao_attention_args_size) and
// tao_kv_append. Each validates, then runs the context's backend.
#include <math.h>

#include "backend.h"
#include "llama_checks.h"
#include "llama_ops.h"

using namespace tao;

extern "C" {

tao_status tao_attention_args_size(int64_t* out) {
  if (!out) return fail(TAO_ERR_INVALID_ARGUMENT, "tao_attention_args_size", "out is NULL");
  *out = (int64_t)sizeof(tao_attention_args);
  return TAO_OK;
}

tao_status tao_attention(tao_ctx* ctx, const tao_attention_args* a) {
  const char* op = "tao_attention";
  TAO_TRY(check_ctx(ctx, op));
  if (!a) return fail(TAO_ERR_INVALID_ARGUMENT, op, "args is NULL");
  TAO_TRY(check_float_dtype(op, a->dtype));
  TAO_TRY(check_sizes(op, "batch, q_len, q_heads, head_dim", {a->batch, a->q_len, a->q_heads, a->head_dim}));
  TAO_TRY(check_sizes(op, "batch, kv_capacity, kv_heads, head_dim", {a->batch, a->kv_capacity, a->kv_heads, a->head_dim}));
  if (a->kv_len < 1 || a->kv_len > a->kv_capacity)
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "kv_len=%lld must be in 1..kv_capacity=%lld", (long long)a->kv_len,
                (long long)a->kv_capacity);
  if (a->q_heads % a->kv_heads)
    return fail(TAO_ERR_INVALID_ARGUMENT, op, "q_heads=%lld must be a multiple of kv_heads=%lld", (long long)a->q_heads,
                (long long)a->kv_heads);
  TAO_TRY(check_offset(op, "q_offset", a->q_offset));
  TAO_TRY(check_row_stride(op, "q_stride", a->q_stride, a->q_heads * a->head_dim, a->batch * a->q_len));
  if (!isfinite(a->scale)) return fail(TAO_ERR_INVALID_ARGUMENT, op, "scale=%g must be finite", a->scale);
  if (a->causal != 0 && a->causal != 1) return fail(TAO_ERR_INVALID_ARGUMENT, op, "causal=%lld must be 0 or 1", (long long)a->causal);
  TAO_TRY(check_buffer(ctx, a->q, op, "q"));
  TAO_TRY(check_buffer(ctx, a->k, op, "k"));
  TAO_TRY(check_buffer(ctx, a->v, op, "v"));
  TAO_TRY(check_buffer(ctx, a->out, op, "out"));
  TAO_TRY(check_optional(ctx, a->position, op, "position"));
  const AttentionCall c{a->q, a->k, a->v, a->out, (int)a->dtype, a->batch, a->q_len, a->kv_len, a->kv_capacity,
                        a->q_heads, a->kv_heads, a->head_dim, a->q_offset, a->position, (float)a->scale, a->causal == 1,
                        a->q_stride};
  TAO_DISPATCH(ctx, cpu::attention(c), cuda::attention(ctx, c));
}

tao_status tao_kv_append(tao_ctx* ctx, const void* k, const void* v, void* k_cache, void* v_cache, int32_t dtype,
                         int64_t batch, int64_t seq, int64_t capacity, int64_t heads, int64_t head_dim,
                         int64_t src_stride, const int32_t* position, int64_t offset) {
  const char* op = "tao_kv_append";
  TAO_TRY(check_ctx(ctx, op));
  TAO_TRY(check_float_dtype(op, dtype));
  TAO_TRY(check_sizes(op, "batch, capacity, heads, head_dim", {batch, capacity, heads, head_dim}));
  TAO_TRY(check_sizes(op, "batch, seq, heads, head_dim", {batch, seq, heads, head_dim}));
  TAO_TRY(check_offset(op, "offset", offset));
  TAO_TRY(check_row_stride(op, "src_stride", src_stride, heads * head_dim, batch * seq));
  TAO_TRY(check_buffer(ctx, k, op, "k"));
  TAO_TRY(check_buffer(ctx, v, op, "v"));
  TAO_TRY(check_buffer(ctx, k_cache, op, "k_cache"));
  TAO_TRY(check_buffer(ctx, v_cache, op, "v_cache"));
  TAO_TRY(check_optional(ctx, position, op, "position"));
  const KvAppendCall c{k, v, k_cache, v_cache, dtype, batch, seq, capacity, heads, head_dim, src_stride, position, offset};
  TAO_DISPATCH(ctx, cpu::kv_append(c), cuda::kv_append(ctx, c));
}

}  // extern "C"
