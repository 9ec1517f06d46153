/** attention: softmax(q·kᵀ·scale)·v over a KV cache, for prefill and decode (tao_attention). */
import { native } from "../native/index.ts";
import { check, invalid } from "../errors.ts";
import { dtypeCode } from "../dtypes.ts";
import type { Tensor } from "../tensor.ts";
import { FLOAT_DTYPES, into, liveOnOneDevice, requireInt, requirePosition, tensorAddress } from "./op_args.ts";

/** Words of tao_attention_args (include/tao.h), in header order; test/attention.test.ts checks the size. */
export const ATTENTION_ARGS_WORDS = 17;
const W = {
  q: 0, k: 1, v: 2, out: 3, dtype: 4, batch: 5, qLen: 6, kvLen: 7, kvCapacity: 8, qHeads: 9, kvHeads: 10, headDim: 11,
  qOffset: 12, position: 13, scale: 14, causal: 15, qStride: 16,
} as const;

export interface AttentionOptions {
  /** Query t attends keys s <= its position (default true). */
  causal?: boolean;
  /** Rows of k/v that hold keys (default k.shape[1], the whole cache). */
  kvLen?: number;
  /** Position of query 0 (default 0), added to the position buffer's value. */
  qOffset?: number;
  /** Position buffer (int32, one element, on the device), read when the kernel runs: decode under graph replay. */
  position?: Tensor;
  /** Score scale (default 1/sqrt(Dh)). */
  scale?: number;
  /**
   * Only q's heads [0, heads) are queries (default all), read in place: the q heads of a fused q|k|v
   * projection's output [B, T, Hq + 2·Hkv, Dh] with heads = Hq. out is then [B, T, heads, Dh].
   */
  heads?: number;
  out?: Tensor;
}

/**
 * out [B, T, Hq, Dh] = softmax(scale · q·kᵀ) · v for q [B, T, Hq, Dh] (or q's first `heads` heads)
 * and k, v [B, S, Hkv, Dh] (S the cache capacity; rows [0, kvLen) are keys), one float dtype (f32,
 * f16, bf16), Hq a multiple of Hkv (grouped-query attention). Query t sits at position
 * p = qOffset + position[0] + t; with `causal` it sees keys s < min(kvLen, p + 1), so decode is
 * attention(q [B, 1, Hq, Dh], kCache, vCache, { position }) with the buffer holding the new token's
 * position. Scores, softmax and sums are f32.
 * CUDA: a flash-style kernel, split over the keys (flash-decoding) when few queries; Dh <= 256.
 */
export function attention(q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions = {}): Tensor {
  const op = "attention";
  const { causal = true, qOffset = 0, position, out } = opts;
  const device = liveOnOneDevice(op, { q, k, v, out });
  if (!FLOAT_DTYPES.includes(q.dtype) || k.dtype !== q.dtype || v.dtype !== q.dtype) {
    throw invalid(op, `q, k, v must share one dtype of f32, f16, bf16; got ${q.dtype}, ${k.dtype}, ${v.dtype}`);
  }
  if (q.ndim !== 4 || k.ndim !== 4) throw invalid(op, `q [B, T, Hq, Dh] and k [B, S, Hkv, Dh] must be 4-D, not [${q.shape}] and [${k.shape}]`);
  const [b, t, qRowHeads, dh] = q.shape as [number, number, number, number];
  const [kb, cap, hkv, kdh] = k.shape as [number, number, number, number];
  if (kb !== b || kdh !== dh || v.shape.join() !== k.shape.join()) {
    throw invalid(op, `k and v must be [${b}, S, Hkv, ${dh}] alike; got k [${k.shape}], v [${v.shape}]`);
  }
  const hq = opts.heads ?? qRowHeads;
  requireInt(op, "heads", hq, 1, qRowHeads);
  if (hkv === 0 || hq % hkv !== 0) throw invalid(op, `q heads (${hq}) must be a multiple of kv heads (${hkv})`);
  const kvLen = opts.kvLen ?? cap;
  requireInt(op, "kvLen", kvLen, 1, cap);
  requireInt(op, "qOffset", qOffset, 0, 2 ** 31);
  requirePosition(op, position, device);
  const scale = opts.scale ?? 1 / Math.sqrt(dh);
  if (!Number.isFinite(scale)) throw invalid(op, `scale=${scale} must be finite`);
  return into(op, q.dtype, [b, t, hq, dh], device, out, (y) => {
    const words = new BigInt64Array(ATTENTION_ARGS_WORDS);
    const address = (t: Tensor | undefined) => tensorAddress(op, t);
    words[W.q] = address(q);
    words[W.k] = address(k);
    words[W.v] = address(v);
    words[W.out] = address(y);
    words[W.dtype] = BigInt(dtypeCode(q.dtype));
    words[W.batch] = BigInt(b);
    words[W.qLen] = BigInt(t);
    words[W.kvLen] = BigInt(kvLen);
    words[W.kvCapacity] = BigInt(cap);
    words[W.qHeads] = BigInt(hq);
    words[W.kvHeads] = BigInt(hkv);
    words[W.headDim] = BigInt(dh);
    words[W.qOffset] = BigInt(qOffset);
    words[W.position] = address(position);
    new Float64Array(words.buffer)[W.scale] = scale;
    words[W.causal] = causal ? 1n : 0n;
    words[W.qStride] = BigInt(qRowHeads * dh);
    check(native.tao_attention(q.context.handle(op), words), op);
  });
}
