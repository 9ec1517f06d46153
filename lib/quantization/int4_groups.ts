/**
 * Int4 weights computed on the host (GPTQ, HQQ, AWQ): per-group uint4 values with tinygemm's FLOAT
 * zero point, w ≈ (q − 8)·s + z, q in 0..15, and the AffineQuantizedTensor that holds them in the
 * same layouts as int4WeightOnly (tensor_core_tiled where it fits, else plain), so the same kernels
 * run them and save/load treats them as any int4 weight. Scales and zeros are stored in bf16, so the
 * algorithms round them to bf16 (roundBf16) before using them.
 */
import { fromArray } from "../creation.ts";
import type { DType } from "../dtypes.ts";
import type { Tensor } from "../tensor.ts";
import { AffineQuantizedTensor, type ConfigRecord, type QuantParams } from "../dtypes/affine_quantized_tensor.ts";
import { PlainLayout } from "../dtypes/plain_layout.ts";
import { TensorCoreTiledLayout, type InnerKTiles } from "../dtypes/tensor_core_tiled.ts";
import { ZeroPointDomain } from "./primitives.ts";

/** The middle of the uint4 range (tinygemm's 8). */
export const INT4_MID = 8;
/** The largest uint4 value. */
export const INT4_MAX = 15;

/** A [n, k] weight quantized per group of `groupSize` along k (scale and zero: [n, k / groupSize], row-major). */
export interface Int4Groups {
  n: number;
  k: number;
  groupSize: number;
  /** uint4 values, [n, k] row-major. */
  q: Uint8Array;
  /** bf16-representable scales. */
  scale: Float32Array;
  /** bf16-representable zero points (FLOAT domain). */
  zero: Float32Array;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** `x` rounded to the nearest bf16 (ties to even, as tao_cast). */
export function roundBf16(x: number): number {
  f32[0] = x;
  const bits = u32[0]!;
  if ((bits & 0x7f800000) === 0x7f800000) return f32[0]; // inf / NaN pass through
  u32[0] = (bits + 0x7fff + ((bits >>> 16) & 1)) & 0xffff0000;
  return f32[0];
}

/** The uint4 value nearest to `x` under scale `s` and zero `z`: clamp(round((x − z) / s + 8), 0, 15). */
export function quantizeInt4(x: number, s: number, z: number): number {
  return Math.min(INT4_MAX, Math.max(0, Math.round((x - z) / s + INT4_MID)));
}

/** (q − 8)·s + z. */
export function dequantizeInt4(q: number, s: number, z: number): number {
  return (q - INT4_MID) * s + z;
}

/**
 * Round-to-nearest parameters of one group as int4WeightOnly chooses them (min/max, FLOAT domain):
 * s = max((max − min) / 15, 1e-6), z = min + 8·s, both rounded to bf16.
 */
export function rtnParams(values: ArrayLike<number>, from: number, to: number): { scale: number; zero: number } {
  let mn = Infinity, mx = -Infinity;
  for (let i = from; i < to; i++) {
    mn = Math.min(mn, values[i]!);
    mx = Math.max(mx, values[i]!);
  }
  const scale = roundBf16(Math.max((mx - mn) / INT4_MAX, 1e-6));
  return { scale, zero: roundBf16(mn + INT4_MID * scale) };
}

/** Empty groups for an [n, k] weight. */
export function emptyGroups(n: number, k: number, groupSize: number): Int4Groups {
  const groups = (n * k) / groupSize;
  return { n, k, groupSize, q: new Uint8Array(n * k), scale: new Float32Array(groups), zero: new Float32Array(groups) };
}

/** Round-to-nearest int4 groups of `w` ([n, k] row-major): rtnParams per group, then the nearest values. */
export function rtnGroups(w: ArrayLike<number>, n: number, k: number, groupSize: number): Int4Groups {
  const out = emptyGroups(n, k, groupSize);
  for (let g = 0; g < out.scale.length; g++) {
    const { scale, zero } = rtnParams(w, g * groupSize, (g + 1) * groupSize);
    out.scale[g] = scale;
    out.zero[g] = zero;
    for (let i = g * groupSize; i < (g + 1) * groupSize; i++) out.q[i] = quantizeInt4(w[i]!, scale, zero);
  }
  return out;
}

/** The dequantized weight of `g`, [n, k] row-major in float64. */
export function dequantizeGroups(g: Int4Groups): Float64Array {
  const out = new Float64Array(g.n * g.k), perRow = g.k / g.groupSize;
  for (let i = 0; i < out.length; i++) {
    const r = Math.floor(i / g.k), p = r * perRow + Math.floor((i % g.k) / g.groupSize);
    out[i] = dequantizeInt4(g.q[i]!, g.scale[p]!, g.zero[p]!);
  }
  return out;
}

/** Where and how an Int4Groups weight is stored. */
export interface Int4StoreOptions {
  /** The float dtype the weight dequantizes to (the layer's). */
  dtype: DType;
  device: string;
  /** "tensor_core_tiled" (default; plain where it cannot hold the weight) or "plain". */
  layout?: "tensor_core_tiled" | "plain";
  innerKTiles?: InnerKTiles;
}

/**
 * `g` as an AffineQuantizedTensor (uint4, FLOAT domain, bf16 scale and zero) on `opts.device`,
 * recorded with `record`: tensor_core_tiled where it fits, else plain (as int4WeightOnly).
 */
export function int4Weight(g: Int4Groups, opts: Int4StoreOptions, record: ConfigRecord): AffineQuantizedTensor {
  const params: QuantParams = {
    shape: [g.n, g.k], blockSize: [1, g.groupSize], targetDtype: "uint4", zeroPointDomain: ZeroPointDomain.FLOAT,
    quantMin: 0, quantMax: INT4_MAX, dtype: opts.dtype,
  };
  const tiled = (opts.layout ?? "tensor_core_tiled") === "tensor_core_tiled" ? new TensorCoreTiledLayout(opts.innerKTiles ?? 8) : null;
  const layout = tiled !== null && tiled.unsupported(params) === null ? tiled : new PlainLayout();
  return AffineQuantizedTensor.fromPlain(groupTensors(g, opts.device), params, layout, record);
}

/** The plain tensors of `g` on `device`: uint8 values [N, K], bf16 scale and zero [N, K / groupSize]. */
export function groupTensors(g: Int4Groups, device: string): { data: Tensor; scale: Tensor; zeroPoint: Tensor } {
  const grid = [g.n, g.k / g.groupSize];
  const onDevice = (t: Tensor) => {
    const moved = t.to(device);
    if (moved !== t) t.dispose();
    return moved;
  };
  const bf16 = (a: Float32Array) => {
    using t = fromArray(a, { shape: grid });
    return onDevice(t.cast("bf16"));
  };
  return { data: onDevice(fromArray(g.q, { shape: [g.n, g.k] })), scale: bf16(g.scale), zeroPoint: bf16(g.zero) };
}
