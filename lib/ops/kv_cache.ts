/** The static KV cache's device-side bookkeeping: kvAppend and incrementPosition (tao_kv_append, tao_increment_i32). */
import { native } from "../native/index.ts";
import { check, invalid } from "../errors.ts";
import { dtypeCode } from "../dtypes.ts";
import type { Tensor } from "../tensor.ts";
import { FLOAT_DTYPES, liveOnOneDevice, requireDtype, requireInt, requirePosition } from "./op_args.ts";

/** Options of kvAppend. */
export interface KvAppendOptions {
  /** Position buffer (int32, one element, on the device): the first row written is position[0] + offset. */
  position?: Tensor;
  /** Default 0. */
  offset?: number;
  /**
   * First head of k (and of v) to append (default 0): k and v may be one fused q|k|v projection's
   * output [B, T, Hq + 2·Hkv, Dh], read in place with kHead = Hq, vHead = Hq + Hkv.
   */
  kHead?: number;
  vHead?: number;
}

/**
 * Writes heads kHead .. kHead+Hc-1 of k and vHead .. vHead+Hc-1 of v (k, v [B, T, H, Dh] alike; Hc
 * the caches' heads, by default all of k's) into rows p .. p+T-1 of kCache, vCache [B, S, Hc, Dh] (one
 * float dtype), p = position[0] + offset (the buffer read when the kernel runs). On the CPU a range
 * outside the cache is a TaoError; on CUDA rows outside it are not written.
 */
export function kvAppend(k: Tensor, v: Tensor, kCache: Tensor, vCache: Tensor, opts: KvAppendOptions = {}): void {
  const op = "kvAppend";
  const { position, offset = 0, kHead = 0, vHead = 0 } = opts;
  const device = liveOnOneDevice(op, { k, v, kCache, vCache });
  requireDtype(op, "k", k, FLOAT_DTYPES);
  for (const [name, t] of [["v", v], ["kCache", kCache], ["vCache", vCache]] as const) {
    if (t.dtype !== k.dtype) throw invalid(op, `${name} is ${t.dtype} but k is ${k.dtype}`);
  }
  if (k.ndim !== 4 || kCache.ndim !== 4 || v.shape.join() !== k.shape.join() || vCache.shape.join() !== kCache.shape.join()) {
    throw invalid(op, `k, v must be [B, T, H, Dh] and the caches [B, S, H, Dh] alike; got [${k.shape}], [${v.shape}], [${kCache.shape}], [${vCache.shape}]`);
  }
  const [b, t, h, dh] = k.shape as [number, number, number, number];
  const [cb, cap, ch, cdh] = kCache.shape as [number, number, number, number];
  if (cb !== b || ch > h || cdh !== dh) throw invalid(op, `cache [${kCache.shape}] does not match k [${k.shape}]`);
  requireInt(op, "kHead", kHead, 0, h - ch);
  requireInt(op, "vHead", vHead, 0, h - ch);
  requirePosition(op, position, device);
  requireInt(op, "offset", offset, 0, 2 ** 31);
  if (k.numel === 0 || kCache.numel === 0) return;
  check(native.tao_kv_append(k.context.handle(op), k.ptr(op, kHead * dh), v.ptr(op, vHead * dh), kCache.ptr(op), vCache.ptr(op),
    dtypeCode(k.dtype), b, t, cap, ch, dh, h * dh, position?.ptr(op) ?? null, offset), op);
}

/** position[i] += delta (int32, wrapping) on the tensor's device; returns position. Captured in a graph it advances each replay. */
export function incrementPosition(position: Tensor, delta = 1): Tensor {
  const op = "incrementPosition";
  liveOnOneDevice(op, { position });
  requireDtype(op, "position", position, "i32");
  requireInt(op, "delta", delta, -(2 ** 31), 2 ** 31 - 1);
  if (position.numel > 0) check(native.tao_increment_i32(position.context.handle(op), position.ptr(op), position.numel, delta), op);
  return position;
}
