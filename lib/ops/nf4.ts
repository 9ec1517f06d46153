/**
 * NF4 (QLoRA's 4-bit NormalFloat, bitsandbytes' nf4 with double quantization) ops: quantize a float
 * weight to codes and block absmax, pack them (nibbles and 8-bit double-quantized scales), unpack,
 * dequantize, and linear with the weight decoded on the fly. The format is defined in include/tao.h
 * (tao_nf4_quantize and the ops after it).
 */
import { native } from "../native/index.ts";
import { check, invalid } from "../errors.ts";
import { dtypeCode, type DType } from "../dtypes.ts";
import { empty, produce, type Tensor } from "../tensor.ts";
import type { LinearOptions } from "./linear.ts";
import { checkLinearArgs, linearOutput } from "./linear_args.ts";
import { FLOAT_DTYPES, liveOnOneDevice, requireDtype, requireShape } from "./op_args.ts";

/** Weights per absmax block. */
export const NF4_BLOCK = 64;
/** Block absmax per double-quantization group. */
export const NF4_SCALE_GROUP = 256;
/** The 16 NF4 levels (bitsandbytes' table, as f32), ascending; code 7 is 0. */
export const NF4_CODES: readonly number[] = [
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334,
  -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
  0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
].map(Math.fround);

/** NF4 plain form of a [N, K] weight: codes u8 [N, K] (0..15) and absmax f32 [N, K/64]. */
export interface Nf4Plain {
  codes: Tensor;
  absmax: Tensor;
}

/**
 * A packed NF4 weight [N, K]: packed u8 [N, K/2] (element 2j in the high nibble of byte j), qscale i8
 * [N, K/64], scale2 and offset f32 [G], G = ceil(N·K/64 / 256).
 */
export interface Nf4Packed {
  packed: Tensor;
  qscale: Tensor;
  scale2: Tensor;
  offset: Tensor;
}

/** The storage shapes of a packed NF4 weight [n, k]. */
export function nf4Shapes(n: number, k: number): Record<keyof Nf4Packed, number[]> {
  const groups = Math.ceil((n * k) / NF4_BLOCK / NF4_SCALE_GROUP);
  return { packed: [n, k / 2], qscale: [n, k / NF4_BLOCK], scale2: [groups], offset: [groups] };
}

/** [n, k] of a 2-D weight whose k is a multiple of 64 (TaoError naming `op` otherwise). */
function weightDims(op: string, name: string, t: Tensor, kOf: (d: number) => number): [number, number] {
  if (t.ndim !== 2) throw invalid(op, `${name} must be 2-D, not [${t.shape}]`);
  const n = t.shape[0]!, k = kOf(t.shape[1]!);
  if (k % NF4_BLOCK !== 0) throw invalid(op, `K = ${k} must be a multiple of ${NF4_BLOCK}`);
  return [n, k];
}

/** Checks a packed weight's tensors (dtypes, shapes, one device) and returns its [N, K]. */
function packedDims(op: string, w: Nf4Packed): [number, number] {
  liveOnOneDevice(op, { ...w });
  requireDtype(op, "packed", w.packed, "u8");
  const [n, k] = weightDims(op, "packed", w.packed, (d) => 2 * d);
  const shapes = nf4Shapes(n, k);
  requireDtype(op, "qscale", w.qscale, "i8");
  requireShape(op, "qscale", w.qscale, shapes.qscale);
  for (const name of ["scale2", "offset"] as const) {
    requireDtype(op, name, w[name], "f32");
    requireShape(op, name, w[name], shapes[name]);
  }
  return [n, k];
}

/** New tensors of the given dtypes and shapes on `device`, filled by `fill`; all freed if it throws. */
function produceAll<K extends string>(op: string, device: string, spec: Record<K, [DType, number[]]>, fill: (t: Record<K, Tensor>) => void): Record<K, Tensor> {
  const made = {} as Record<K, Tensor>;
  try {
    for (const [name, [dtype, shape]] of Object.entries(spec) as [K, [DType, number[]]][]) made[name] = empty(shape, { dtype, device });
    fill(made);
    return made;
  } catch (e) {
    for (const t of Object.values(made) as Tensor[]) t.dispose();
    throw e;
  }
}

/**
 * NF4 plain form of w [N, K] (f32, f16 or bf16; K a multiple of 64): absmax per block of 64 along K,
 * codes = the NF4 level nearest to w / absmax. See tao_nf4_quantize.
 */
export function nf4Quantize(w: Tensor): Nf4Plain {
  const op = "nf4Quantize";
  liveOnOneDevice(op, { w });
  requireDtype(op, "w", w, FLOAT_DTYPES);
  const [n, k] = weightDims(op, "w", w, (d) => d);
  return produceAll(op, w.device, { codes: ["u8", [n, k]], absmax: ["f32", [n, k / NF4_BLOCK]] }, (t) => {
    check(native.tao_nf4_quantize(w.context.handle(op), w.ptr(op), dtypeCode(w.dtype), n, k, t.codes.ptr(op), t.absmax.ptr(op)), op);
  });
}

/** Packs a plain form: codes into nibbles, absmax double-quantized (8-bit, groups of 256). See tao_nf4_pack. */
export function nf4Pack(plain: Nf4Plain): Nf4Packed {
  const op = "nf4Pack";
  const { codes, absmax } = plain;
  liveOnOneDevice(op, { codes, absmax });
  requireDtype(op, "codes", codes, "u8");
  requireDtype(op, "absmax", absmax, "f32");
  const [n, k] = weightDims(op, "codes", codes, (d) => d);
  requireShape(op, "absmax", absmax, [n, k / NF4_BLOCK]);
  const s = nf4Shapes(n, k);
  return produceAll(op, codes.device, { packed: ["u8", s.packed], qscale: ["i8", s.qscale], scale2: ["f32", s.scale2], offset: ["f32", s.offset] }, (t) => {
    check(native.tao_nf4_pack(codes.context.handle(op), codes.ptr(op), absmax.ptr(op), n, k, t.packed.ptr(op), t.qscale.ptr(op),
      t.scale2.ptr(op), t.offset.ptr(op)), op);
  });
}

/** The plain form of a packed weight: codes, and absmax = the double-quantized block scales. See tao_nf4_unpack. */
export function nf4Unpack(w: Nf4Packed): Nf4Plain {
  const op = "nf4Unpack";
  const [n, k] = packedDims(op, w);
  return produceAll(op, w.packed.device, { codes: ["u8", [n, k]], absmax: ["f32", [n, k / NF4_BLOCK]] }, (t) => {
    check(native.tao_nf4_unpack(w.packed.context.handle(op), w.packed.ptr(op), w.qscale.ptr(op), w.scale2.ptr(op), w.offset.ptr(op),
      n, k, t.codes.ptr(op), t.absmax.ptr(op)), op);
  });
}

/** The packed weight as a new [N, K] `dtype` tensor (f32, f16 or bf16): code · scale, rounded once. See tao_dequantize_nf4. */
export function dequantizeNf4(w: Nf4Packed, dtype: DType): Tensor {
  const op = "dequantizeNf4";
  const [n, k] = packedDims(op, w);
  if (!FLOAT_DTYPES.includes(dtype)) throw invalid(op, `dtype must be one of ${FLOAT_DTYPES.join(", ")}, not ${dtype}`);
  return produce(dtype, [n, k], w.packed.device, op, (out) => {
    check(native.tao_dequantize_nf4(w.packed.context.handle(op), w.packed.ptr(op), w.qscale.ptr(op), w.scale2.ptr(op), w.offset.ptr(op),
      n, k, out.ptr(op), dtypeCode(dtype)), op);
  });
}

/**
 * y [..., N] = x [..., K] · Wᵀ (+ bias [N]) with W the NF4 weight decoded to f32 on the fly; x, bias,
 * y in one dtype (f32, f16, bf16), f32 sums, y rounded once. On CUDA with 16-bit x the levels are
 * rounded to x's dtype (M <= 32) or the dequantized weight is (larger M). See tao_linear_nf4.
 */
export function linearNf4(x: Tensor, w: Nf4Packed, bias: Tensor | null = null, opts: LinearOptions = {}): Tensor {
  const op = "linearNf4";
  const [n, k] = packedDims(op, w);
  const shape = checkLinearArgs(op, { x, weights: { ...w }, bias, out: opts.out }, n, k, FLOAT_DTYPES);
  return linearOutput(op, x, shape, opts.out, (y) => {
    check(native.tao_linear_nf4(x.context.handle(op), x.ptr(op), w.packed.ptr(op), w.qscale.ptr(op), w.scale2.ptr(op), w.offset.ptr(op),
      bias?.ptr(op) ?? null, y.ptr(op), dtypeCode(x.dtype), x.numel / k, n, k), op);
  });
}
