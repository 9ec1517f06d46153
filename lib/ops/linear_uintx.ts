/**
 * uintx ops: 1- to 7-bit unsigned weights with a scale and zero point per group along K (asymmetric
 * affine, torchao's uintx): pack plain values densely (the tile packing of include/tao.h,
 * tao_uintx_pack), unpack them, dequantize, and linear with the weight decoded on the fly.
 */
import { native } from "../native/index.ts";
import { check, invalid } from "../errors.ts";
import { dtypeCode, type DType } from "../dtypes.ts";
import { produce, type Tensor } from "../tensor.ts";
import { ZeroPointDomain } from "../quantization/primitives.ts";
import type { LinearOptions } from "./linear.ts";
import { checkLinearArgs, linearOutput } from "./linear_args.ts";
import { FLOAT_DTYPES, liveOnOneDevice, requireDtype, requireShape } from "./op_args.ts";

/** Bit widths a uintx weight can have. */
export const UINTX_BITS: readonly number[] = [1, 2, 3, 4, 5, 6, 7];
/** Group sizes (values of a row sharing one scale and zero point) the uintx ops take. */
export const UINTX_GROUP_SIZES: readonly number[] = [32, 64, 128, 256];

/**
 * A packed uintx weight [N, K]: packed u8 [ceil(N/32), ceil(K/128), 512·bits] (tao_uintx_pack), scale
 * and zero bf16 [N, K / groupSize]; w = (q − zero)·scale (INT domain, integer zero points) or
 * (q − 2^(bits−1))·scale + zero (FLOAT domain, one fused multiply-add).
 */
export interface UintxWeight {
  packed: Tensor;
  scale: Tensor;
  zero: Tensor;
  bits: number;
  groupSize: number;
  domain: typeof ZeroPointDomain.INT | typeof ZeroPointDomain.FLOAT;
}

/** Throws unless bits is 1..7. */
function checkBits(op: string, bits: number): void {
  if (!UINTX_BITS.includes(bits)) throw invalid(op, `bits must be 1..7, not ${bits}`);
}

/** The shape of the packed tensor of an [n, k] weight of `bits`-bit values. */
export function uintxPackedShape(n: number, k: number, bits: number): number[] {
  checkBits("uintxPackedShape", bits);
  return [Math.ceil(n / 32), Math.ceil(k / 128), 512 * bits];
}

/** Checks a weight's tensors (dtypes, shapes, one device, bits, group size, domain) and returns its [N, K]. */
function weightDims(op: string, w: UintxWeight): [number, number] {
  liveOnOneDevice(op, { packed: w.packed, scale: w.scale, zero: w.zero });
  checkBits(op, w.bits);
  if (!UINTX_GROUP_SIZES.includes(w.groupSize)) throw invalid(op, `groupSize must be one of ${UINTX_GROUP_SIZES.join(", ")}, not ${w.groupSize}`);
  if (w.domain !== ZeroPointDomain.INT && w.domain !== ZeroPointDomain.FLOAT) throw invalid(op, `domain must be INT or FLOAT, not ${w.domain}`);
  requireDtype(op, "scale", w.scale, "bf16");
  if (w.scale.ndim !== 2) throw invalid(op, `scale must be 2-D [N, K / groupSize], not [${w.scale.shape}]`);
  const [n, k] = [w.scale.shape[0]!, w.scale.shape[1]! * w.groupSize];
  requireDtype(op, "zero", w.zero, "bf16");
  requireShape(op, "zero", w.zero, w.scale.shape);
  requireDtype(op, "packed", w.packed, "u8");
  requireShape(op, "packed", w.packed, uintxPackedShape(n, k, w.bits));
  return [n, k];
}

/** The packed form (uintxPackedShape) of values q (u8 [N, K]; only the low `bits` bits of each are kept). */
export function uintxPack(q: Tensor, bits: number): Tensor {
  const op = "uintxPack";
  liveOnOneDevice(op, { q });
  checkBits(op, bits);
  requireDtype(op, "q", q, "u8");
  if (q.ndim !== 2 || q.numel === 0) throw invalid(op, `q must be a non-empty [N, K] tensor, not [${q.shape}]`);
  const [n, k] = q.shape as [number, number];
  return produce("u8", uintxPackedShape(n, k, bits), q.device, op, (out) => {
    check(native.tao_uintx_pack(q.context.handle(op), q.ptr(op), n, k, bits, out.ptr(op)), op);
  });
}

/** The values (u8 [n, k]) of a packed [n, k] weight of `bits`-bit values. */
export function uintxUnpack(packed: Tensor, n: number, k: number, bits: number): Tensor {
  const op = "uintxUnpack";
  liveOnOneDevice(op, { packed });
  checkBits(op, bits);
  if (!Number.isSafeInteger(n) || !Number.isSafeInteger(k) || n < 1 || k < 1) throw invalid(op, `n=${n}, k=${k} must be positive integers`);
  requireDtype(op, "packed", packed, "u8");
  requireShape(op, "packed", packed, uintxPackedShape(n, k, bits));
  return produce("u8", [n, k], packed.device, op, (out) => {
    check(native.tao_uintx_unpack(packed.context.handle(op), packed.ptr(op), n, k, bits, out.ptr(op)), op);
  });
}

/** The weight as a new [N, K] `dtype` tensor (f32, f16 or bf16), each value rounded once. See tao_dequantize_uintx. */
export function dequantizeUintx(w: UintxWeight, dtype: DType): Tensor {
  const op = "dequantizeUintx";
  const [n, k] = weightDims(op, w);
  if (!FLOAT_DTYPES.includes(dtype)) throw invalid(op, `dtype must be one of ${FLOAT_DTYPES.join(", ")}, not ${dtype}`);
  return produce(dtype, [n, k], w.packed.device, op, (out) => {
    check(native.tao_dequantize_uintx(w.packed.context.handle(op), w.packed.ptr(op), w.scale.ptr(op), w.zero.ptr(op), n, k, w.bits,
      w.groupSize, w.domain, out.ptr(op), dtypeCode(dtype)), op);
  });
}

/**
 * y [..., N] = x [..., K] · Wᵀ (+ bias [N]) with W the uintx weight decoded on the fly; x, bias, y in one
 * dtype (f32, f16, bf16), f32 sums, y rounded once. See tao_linear_uintx.
 */
export function linearUintx(x: Tensor, w: UintxWeight, bias: Tensor | null = null, opts: LinearOptions = {}): Tensor {
  const op = "linearUintx";
  const [n, k] = weightDims(op, w);
  const shape = checkLinearArgs(op, { x, weights: { packed: w.packed, scale: w.scale, zero: w.zero }, bias, out: opts.out }, n, k, FLOAT_DTYPES);
  return linearOutput(op, x, shape, opts.out, (y) => {
    check(native.tao_linear_uintx(x.context.handle(op), x.ptr(op), w.packed.ptr(op), w.scale.ptr(op), w.zero.ptr(op), bias?.ptr(op) ?? null,
      y.ptr(op), dtypeCode(x.dtype), x.numel / k, n, k, w.bits, w.groupSize, w.domain), op);
  });
}
