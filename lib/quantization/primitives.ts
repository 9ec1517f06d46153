/**
 * Affine quantization primitives, as torchao's quant_primitives, over libtao's
 * tao_choose_qparams_affine / tao_quantize_affine / tao_dequantize_affine / tao_fake_quantize_affine.
 *
 * A block size has one entry per input dim: `blockSize[d]` elements along d share one scale (and
 * zero point), so scale and zero point have shape shape[d] / blockSize[d]. Per-tensor = the shape,
 * per-row of [N, K] = [1, K], per-group g = [1, g]; see perTensor, perRow, perGroup.
 * All arithmetic is float32, each step rounded as written; results are then rounded once to their
 * dtype. round = half to even; mid = (qmax + qmin + 1) / 2.
 */
import * as C from "../native/constants.ts";
import { invalid } from "../errors.ts";
import { finfo, isFloat, dtypeCode, type DType } from "../dtypes.ts";
import { empty, type Tensor } from "../tensor.ts";
import { callAffine, qparamShape } from "./affine_args.ts";

/** How scale (and zero point) are derived from a block's min and max. */
export const MappingType = {
  SYMMETRIC: C.TAO_MAPPING_SYMMETRIC,
  SYMMETRIC_NO_CLIPPING_ERR: C.TAO_MAPPING_SYMMETRIC_NO_CLIPPING_ERR,
  ASYMMETRIC: C.TAO_MAPPING_ASYMMETRIC,
} as const;
export type MappingType = (typeof MappingType)[keyof typeof MappingType];

/**
 * Where the zero point lives:
 *   INT:   q = clamp(round(x * (1 / s)) + zp, qmin, qmax);        x = (q - zp) * s
 *   FLOAT: q = clamp(round((x - (zp - s * mid)) / s), qmin, qmax); x = (q - mid) * s + zp (one FMA)
 *          (tinygemm's convention)
 *   NONE:  q = clamp(round(x * (1 / s)), qmin, qmax);             x = q * s
 */
export const ZeroPointDomain = {
  INT: C.TAO_ZERO_POINT_INT,
  FLOAT: C.TAO_ZERO_POINT_FLOAT,
  NONE: C.TAO_ZERO_POINT_NONE,
} as const;
export type ZeroPointDomain = (typeof ZeroPointDomain)[keyof typeof ZeroPointDomain];

/** The value type quantized data represents. Sub-byte types are a range stored in a byte type. */
export type TargetDtype = "int8" | "uint8" | "int4" | "uint4" | "int32" | "float8_e4m3fn" | "float8_e5m2";

interface Target {
  /** Dtype the quantized values are stored in. */
  storage: DType;
  /** Default [quantMin, quantMax]. */
  range: [number, number];
  /** What quantMin/quantMax may be set to. */
  limits: [number, number];
}

const I8: [number, number] = [-128, 127], U8: [number, number] = [0, 255];
const I32: [number, number] = [-(2 ** 31), 2 ** 31 - 1];
const E4M3: [number, number] = [-448, 448], E5M2: [number, number] = [-57344, 57344];

const TARGETS: Record<TargetDtype, Target> = {
  int8: { storage: "i8", range: I8, limits: I8 },
  uint8: { storage: "u8", range: U8, limits: U8 },
  int4: { storage: "i8", range: [-8, 7], limits: I8 },
  uint4: { storage: "u8", range: [0, 15], limits: U8 },
  int32: { storage: "i32", range: I32, limits: I32 },
  float8_e4m3fn: { storage: "f8e4m3fn", range: E4M3, limits: E4M3 },
  float8_e5m2: { storage: "f8e5m2", range: E5M2, limits: E5M2 },
};

function target(name: TargetDtype, op: string): Target {
  const t = TARGETS[name];
  if (t === undefined) throw invalid(op, `unknown target dtype ${JSON.stringify(name)}`);
  return t;
}

/** Storage dtype and default [quantMin, quantMax] of a target dtype. */
export function targetInfo(name: TargetDtype): { storage: DType; quantMin: number; quantMax: number } {
  const t = target(name, "targetInfo");
  return { storage: t.storage, quantMin: t.range[0], quantMax: t.range[1] };
}

/** Options shared by every primitive. */
export interface QuantRangeOptions {
  /** Smallest quantized value (default: the target's minimum; int4 -8, uint4 0, ...). */
  quantMin?: number;
  /** Largest quantized value (default: the target's maximum). */
  quantMax?: number;
  /** Default INT for integer targets, NONE for float8. */
  zeroPointDomain?: ZeroPointDomain;
}

/** Resolves target, range and domain; quantMin/quantMax must lie within the storage type. */
function resolve(name: TargetDtype, opts: QuantRangeOptions, op: string) {
  const t = target(name, op);
  const quantMin = opts.quantMin ?? t.range[0], quantMax = opts.quantMax ?? t.range[1];
  for (const v of [quantMin, quantMax]) {
    if (!Number.isInteger(v) || v < t.limits[0] || v > t.limits[1]) {
      throw invalid(op, `quant range [${quantMin}, ${quantMax}] does not fit ${name} (${t.storage})`);
    }
  }
  const zeroPointDomain = opts.zeroPointDomain ?? (isFloat(t.storage) ? ZeroPointDomain.NONE : ZeroPointDomain.INT);
  return { storage: t.storage, targetCode: dtypeCode(t.storage), quantMin, quantMax, zeroPointDomain };
}

/** Checks that scale / zero point have one entry per block (C cannot see their sizes). */
function checkQParams(input: Tensor, blockSize: readonly number[], scale: Tensor, zeroPoint: Tensor | null, op: string): void {
  const expected = qparamShape(input.shape, blockSize, op).reduce((a, b) => a * b, 1);
  for (const [name, t] of [["scale", scale], ["zeroPoint", zeroPoint]] as const) {
    if (t !== null && t.numel !== expected) {
      throw invalid(op, `${name} has ${t.numel} elements, blockSize [${blockSize}] of [${input.shape}] needs ${expected}`);
    }
  }
}

export interface ChooseQParamsOptions extends QuantRangeOptions {
  /** Lower bound of every scale (default finfo(input.dtype).eps, as torchao). */
  eps?: number;
  /** Default: the input's dtype. */
  scaleDtype?: DType;
  /** Default: i32 for the INT domain, the input's dtype for FLOAT (NONE has no zero point). */
  zeroPointDtype?: DType;
  /** Widen [min, max] to include 0 (default true; symmetric mappings require it). */
  preserveZero?: boolean;
}

/**
 * Scale and zero point per block of `input`, torchao semantics:
 *   mn = min(block), mx = max(block); preserveZero: mn = min(mn, 0), mx = max(mx, 0)
 *   SYMMETRIC:                 s = max(-mn, mx) / ((qmax - qmin) / 2)
 *   SYMMETRIC_NO_CLIPPING_ERR: s = max(mn / qmin, mx / qmax)
 *   ASYMMETRIC:                s = (mx - mn) / (qmax - qmin)
 *   s = max(s, eps)
 *   zero point: symmetric INT -> trunc((qmax + qmin + 1) / 2); asymmetric INT ->
 *   clamp(qmin - round(mn / s), qmin, qmax); FLOAT -> mn + s * mid; NONE -> null.
 * Symmetric mappings need preserveZero and an INT or NONE domain; FLOAT needs ASYMMETRIC (the C side
 * rejects other combinations with INVALID_ARGUMENT). A NaN in a block makes its scale NaN.
 */
export function chooseQParamsAffine(
  input: Tensor,
  mappingType: MappingType,
  blockSize: readonly number[],
  targetDtype: TargetDtype,
  opts: ChooseQParamsOptions = {},
): { scale: Tensor; zeroPoint: Tensor | null } {
  const op = "chooseQParamsAffine";
  input.ptr(op);
  const r = resolve(targetDtype, opts, op);
  const shape = qparamShape(input.shape, blockSize, op);
  const device = input.device;
  const zeroPointDtype = opts.zeroPointDtype ?? (r.zeroPointDomain === ZeroPointDomain.INT ? "i32" : input.dtype);
  const scale = empty(shape, { dtype: opts.scaleDtype ?? input.dtype, device });
  const zeroPoint = r.zeroPointDomain === ZeroPointDomain.NONE ? null : empty(shape, { dtype: zeroPointDtype, device });
  try {
    callAffine("tao_choose_qparams_affine", op, {
      blockSize, mappingType, zeroPointDomain: r.zeroPointDomain, preserveZero: opts.preserveZero ?? true,
      targetDtype: r.targetCode, quantMin: r.quantMin, quantMax: r.quantMax,
      eps: opts.eps ?? (isFloat(input.dtype) ? finfo(input.dtype).eps : 0),
      input, output: null, scale, zeroPoint,
    });
  } catch (e) {
    scale.dispose();
    zeroPoint?.dispose();
    throw e;
  }
  return { scale, zeroPoint };
}

/** Options of quantize / dequantize / fake-quantize. */
export interface TransformOptions extends QuantRangeOptions {
  /**
   * Write the result into this tensor (right dtype, element count and device) instead of a new one;
   * what graph capture needs, since a replay writes to the addresses captured.
   */
  out?: Tensor;
}

/** Runs quantize / dequantize / fake-quantize into `opts.out` or a new tensor of `outputDtype`. */
function transform(
  fn: "tao_quantize_affine" | "tao_dequantize_affine" | "tao_fake_quantize_affine",
  op: string,
  input: Tensor,
  blockSize: readonly number[],
  scale: Tensor,
  zeroPoint: Tensor | null,
  targetDtype: TargetDtype,
  opts: TransformOptions,
  outputDtype: DType,
): Tensor {
  input.ptr(op);
  const r = resolve(targetDtype, opts, op);
  checkQParams(input, blockSize, scale, zeroPoint, op);
  const { out } = opts;
  if (out !== undefined && (out.dtype !== outputDtype || out.numel !== input.numel)) {
    throw invalid(op, `out must be ${outputDtype} with ${input.numel} elements, not ${out.dtype} [${out.shape}]`);
  }
  const output = out ?? empty(input.shape, { dtype: outputDtype, device: input.device });
  try {
    callAffine(fn, op, {
      blockSize, mappingType: MappingType.SYMMETRIC, zeroPointDomain: r.zeroPointDomain, preserveZero: true,
      targetDtype: r.targetCode, quantMin: r.quantMin, quantMax: r.quantMax, eps: 0,
      input, output, scale, zeroPoint,
    });
  } catch (e) {
    if (output !== out) output.dispose();
    throw e;
  }
  return output;
}

/**
 * Quantizes `input` (float) block by block into the target's storage dtype:
 *   INT:   clamp(round(x * (1 / s)) + zp, qmin, qmax)
 *   FLOAT: clamp(round((x - (zp - s * mid)) / s), qmin, qmax)
 *   NONE:  clamp(round(x * (1 / s)), qmin, qmax)
 *   float8 target: saturate_cast(x / s). NaN inputs give 0 (integers) or NaN (float8).
 */
export function quantizeAffine(
  input: Tensor,
  blockSize: readonly number[],
  scale: Tensor,
  zeroPoint: Tensor | null,
  targetDtype: TargetDtype,
  opts: TransformOptions = {},
): Tensor {
  const storage = target(targetDtype, "quantizeAffine").storage;
  return transform("tao_quantize_affine", "quantizeAffine", input, blockSize, scale, zeroPoint, targetDtype, opts, storage);
}

/**
 * Dequantizes `q` (values of the target stored in its storage dtype) to `outputDtype` (default f32):
 *   INT: (q - zp) * s; FLOAT: (q - mid) * s + zp (one fused multiply-add); NONE / float8: q * s.
 */
export function dequantizeAffine(
  q: Tensor,
  blockSize: readonly number[],
  scale: Tensor,
  zeroPoint: Tensor | null,
  targetDtype: TargetDtype,
  opts: TransformOptions & { outputDtype?: DType } = {},
): Tensor {
  const dtype = opts.outputDtype ?? "f32";
  return transform("tao_dequantize_affine", "dequantizeAffine", q, blockSize, scale, zeroPoint, targetDtype, opts, dtype);
}

/** dequantize(quantize(input)) in one pass, in the input's dtype, without materializing the quantized tensor. */
export function fakeQuantizeAffine(
  input: Tensor,
  blockSize: readonly number[],
  scale: Tensor,
  zeroPoint: Tensor | null,
  targetDtype: TargetDtype,
  opts: TransformOptions = {},
): Tensor {
  return transform("tao_fake_quantize_affine", "fakeQuantizeAffine", input, blockSize, scale, zeroPoint, targetDtype, opts, input.dtype);
}

/** Block size of one scale for the whole tensor. */
export const perTensor = (shape: readonly number[]): number[] => [...shape];
/** Block size of one scale per row (per last-dim vector) of a tensor. */
export const perRow = (shape: readonly number[]): number[] => shape.map((d, i) => (i === shape.length - 1 ? d : 1));
/** Block size of one scale per `groupSize` consecutive elements of each row. */
export const perGroup = (shape: readonly number[], groupSize: number): number[] =>
  shape.map((_, i) => (i === shape.length - 1 ? groupSize : 1));
