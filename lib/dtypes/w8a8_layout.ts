/**
 * W8A8Layout: int8 weights whose linear also quantizes its activations to int8 (torchao's
 * int8_dynamic_activation_int8_weight and the static calibration flow). Weights: symmetric int8
 * per output channel (blocks [1, K]), NONE zero-point domain, f32 scales. Activations: symmetric
 * int8 in [-127, 127], either per row at every call (dynamic: s = max(max|x_row| / 127, 1e-5)) or
 * per tensor with a fixed scale found by calibration (static; stored as `act_scale`). Storage:
 * int_data (i8 [N, K]), scale (f32 [N, 1]) and, static, act_scale (f32 [1]).
 *
 * Its linear runs y = s_x·s_w·Σ q_x·q_w + bias: the kernel entry quantizes x with quantizeRowsInt8
 * (dynamic) or quantizeAffine (static) and runs linearInt8Int8 (int32 sums, one f32 rescale); the
 * reference entry quantizes x with the affine primitives, dequantizes both operands to f32 and runs
 * the dense f32 linear (y rounded once to x's dtype). SmoothQuantLayout (smoothquant_layout.ts) extends this layout with an
 * equalization scale applied to x first.
 */
import { invalid } from "../errors.ts";
import { finfo, type DType } from "../dtypes.ts";
import { fromArray, full } from "../creation.ts";
import type { Tensor } from "../tensor.ts";
import { linear, type LinearOptions } from "../ops/linear.ts";
import { linearInt8Int8, quantizeRowsInt8 } from "../ops/linear_w8a8.ts";
import {
  chooseQParamsAffine, dequantizeAffine, fakeQuantizeAffine, MappingType, perRow, perTensor, quantizeAffine, ZeroPointDomain,
  type QuantRangeOptions,
} from "../quantization/primitives.ts";
import {
  AffineQuantizedTensor, registerLayout, type ConfigRecord, type Layout, type LayoutStorage, type PlainForm, type QuantParams, type QuantScheme,
} from "./affine_quantized_tensor.ts";
import { QuantizedLinearPriority, registerQuantizedLinear } from "./dispatch.ts";

/** The activation range and domain (torchao's _int8_symm_per_token_reduced_range_quant): [-127, 127], no zero point. */
export const ACTIVATION_RANGE: QuantRangeOptions = { quantMin: -127, quantMax: 127, zeroPointDomain: ZeroPointDomain.NONE };
/** Smallest dynamic activation scale (torchao's eps for per-token int8): a zero row quantizes to 0, never NaN. */
export const ACTIVATION_EPS = 1e-5;

/**
 * The weight scheme of W8A8 (torchao's int8_dynamic_activation_int8_weight): symmetric int8 over
 * [-128, 127] per output channel, NONE domain, eps = f32 machine epsilon; scales in f32 (torchao
 * keeps the weight's dtype; f32 is what the int8 GEMM's epilogue reads).
 */
export function w8a8WeightScheme(shape: readonly number[]): QuantScheme {
  return {
    mappingType: MappingType.SYMMETRIC, blockSize: perRow(shape), targetDtype: "int8", zeroPointDomain: ZeroPointDomain.NONE,
    eps: finfo("f32").eps, scaleDtype: "f32",
  };
}

/** The stored int8 weight times its per-channel scales, as a new `dtype` tensor. */
function dequantizeStored(storage: LayoutStorage, p: QuantParams, dtype: DType): Tensor {
  return dequantizeAffine(storage.int_data!, p.blockSize, storage.scale!, null, "int8", {
    quantMin: p.quantMin, quantMax: p.quantMax, zeroPointDomain: ZeroPointDomain.NONE, outputDtype: dtype,
  });
}

/** int8 per-channel weights with int8 activations, dynamic (per row) or static (fixed per-tensor scale). */
export class W8A8Layout implements Layout {
  readonly name: string = "w8a8";

  constructor(readonly staticActivation = false) {}

  get options(): Readonly<Record<string, number>> {
    return this.staticActivation ? { staticActivation: 1 } : {};
  }

  unsupported(p: QuantParams): string | null {
    if (p.shape.length !== 2) return `it holds 2-D weights, not [${p.shape}]`;
    if (p.targetDtype !== "int8" || p.zeroPointDomain !== ZeroPointDomain.NONE) return "it holds int8 values without zero points (NONE domain)";
    if (p.blockSize[0] !== 1 || p.blockSize[1] !== p.shape[1]) return `it needs one scale per output channel (blocks [1, K]), not [${p.blockSize}]`;
    return null;
  }

  /** The storage besides int_data and scale (act_scale when static), which pack cannot make from a plain form. */
  protected extraSpec(_p: QuantParams): Record<string, { shape: readonly number[]; dtypes: readonly DType[] }> {
    return this.staticActivation ? { act_scale: { shape: [1], dtypes: ["f32"] } } : {};
  }

  pack(plain: PlainForm, p: QuantParams): LayoutStorage {
    const extra = Object.keys(this.extraSpec(p));
    if (extra.length > 0) throw invalid(`${this.name} layout`, `it also stores [${extra}]; make it with quantizeW8A8Weight`);
    return { int_data: plain.data, scale: plain.scale };
  }

  unpack(storage: LayoutStorage): PlainForm {
    return { data: storage.int_data!.clone(), scale: storage.scale!.clone(), zeroPoint: null };
  }

  dequantize(storage: LayoutStorage, p: QuantParams, dtype: DType): Tensor {
    return dequantizeStored(storage, p, dtype);
  }

  storageSpec(p: QuantParams) {
    return {
      int_data: { shape: p.shape, dtypes: ["i8"] as DType[] },
      scale: { shape: [p.shape[0]!, 1], dtypes: ["f32"] as DType[] },
      ...this.extraSpec(p),
    };
  }
}

/**
 * Quantizes a float weight [N, K] with w8a8WeightScheme into `layout`, beside `extra` storage the
 * layout holds (act_scale, equalization_scale), which the result owns. `weight` is left as it is.
 */
export function quantizeW8A8Weight(weight: Tensor, layout: W8A8Layout, extra: LayoutStorage, config: ConfigRecord): AffineQuantizedTensor {
  const base = AffineQuantizedTensor.fromFloat(weight, w8a8WeightScheme(weight.shape), new W8A8Layout(), config);
  try {
    return new AffineQuantizedTensor(layout, { ...base.storage, ...extra }, base.params, config);
  } catch (e) {
    base.dispose();
    throw e;
  }
}

/**
 * x · diag(v) for x [..., K] (f32) and host values v [K]: column k of x times v[k], each product
 * rounded once (a dense linear with the diagonal matrix: O(K²) per row, for the reference paths
 * and one-time weight transforms). An inf in a row of x makes that whole row NaN (inf · 0).
 */
export function scaleColumns(x: Tensor, v: Float32Array): Tensor {
  const k = v.length;
  const diag = new Float32Array(k * k);
  v.forEach((s, i) => (diag[i * k + i] = s));
  using d = fromArray(diag, { shape: [k, k], device: x.device });
  return linear(x, d);
}

/**
 * x (f32) quantized and dequantized as the W8A8 linear quantizes it: per tensor with `actScale`
 * (static), else per row with s = max(max|x_row| / 127, 1e-5) (dynamic).
 */
function fakeQuantizeActivation(x: Tensor, actScale: Tensor | null): Tensor {
  if (actScale !== null) return fakeQuantizeAffine(x, perTensor(x.shape), actScale, null, "int8", ACTIVATION_RANGE);
  const block = perRow(x.shape);
  const { scale } = chooseQParamsAffine(x, MappingType.SYMMETRIC, block, "int8", { ...ACTIVATION_RANGE, eps: ACTIVATION_EPS, scaleDtype: "f32" });
  using s = scale;
  return fakeQuantizeAffine(x, block, s, null, "int8", ACTIVATION_RANGE);
}

/**
 * The reference W8A8 linear, from the affine primitives: x in f32, times diag(inverseSmooth) when
 * given (SmoothQuant's x / s), quantized as the layout says (fakeQuantizeActivation), times the
 * stored weight dequantized to f32 (the smoothed one, for SmoothQuant), plus bias, rounded once to x's dtype. Exactly s_x·s_w·Σ q_x·q_w + bias
 * up to the order of the f32 sums.
 */
export function w8a8ReferenceLinear(
  x: Tensor, w: AffineQuantizedTensor, bias: Tensor | null, opts: LinearOptions, inverseSmooth: Float32Array | null = null,
): Tensor {
  if (bias !== null && bias.dtype !== x.dtype) throw invalid("linear", `bias is ${bias.dtype} but x is ${x.dtype}: all tensors need one dtype`);
  using xCast = x.dtype === "f32" ? null : x.cast("f32");
  using smoothed = inverseSmooth === null ? null : scaleColumns(xCast ?? x, inverseSmooth);
  using xq = fakeQuantizeActivation(smoothed ?? xCast ?? x, w.storage.act_scale ?? null);
  using w32 = dequantizeStored(w.storage, w.params, "f32");
  using b32 = bias === null || bias.dtype === "f32" ? null : bias.cast("f32");
  if (x.dtype === "f32") return linear(xq, w32, bias, opts);
  using y32 = linear(xq, w32, b32);
  const { out } = opts;
  if (out === undefined) return y32.cast(x.dtype);
  if (out.shape.join() !== y32.shape.join()) throw invalid("linear", `out must be [${y32.shape}], not [${out.shape}]`);
  using y = y32.cast(x.dtype);
  return out.copyFrom(y);
}

/**
 * x quantized with the fixed per-tensor scale `actScale` (f32 [1]): q (i8, x's shape) and that
 * scale repeated once per row (f32 [...rows]), as linearInt8Int8 takes them.
 */
function quantizeStatic(x: Tensor, actScale: Tensor): { q: Tensor; scale: Tensor } {
  const rows = x.ndim > 1 ? x.shape.slice(0, -1) : [1];
  const q = quantizeAffine(x, perTensor(x.shape), actScale, null, "int8", ACTIVATION_RANGE);
  try {
    using ones = full(rows, 1, { dtype: "i8", device: x.device });
    return { q, scale: dequantizeAffine(ones, perTensor(rows), actScale, null, "int8", { ...ACTIVATION_RANGE, outputDtype: "f32" }) };
  } catch (e) {
    q.dispose();
    throw e;
  }
}

/**
 * The W8A8 linear on the int8 kernels: x quantized per row by quantizeRowsInt8 (x · (1 / smooth)
 * fused into that pass when `smooth` is given) or per tensor with the stored act_scale (static),
 * then linearInt8Int8 with the weight's per-channel scales, y in x's dtype.
 */
export function w8a8KernelLinear(x: Tensor, w: AffineQuantizedTensor, bias: Tensor | null, opts: LinearOptions, smooth: Tensor | null = null): Tensor {
  const act = w.storage.act_scale;
  const { q, scale } = act === undefined ? quantizeRowsInt8(x, { smooth }) : quantizeStatic(x, act);
  using xq = q, xscale = scale;
  return linearInt8Int8(xq, xscale, w.storage.int_data!, w.storage.scale!.reshape(w.shape[0]!), bias, { ...opts, dtype: x.dtype });
}

/** Whether the int8 kernels take (x, w, bias) of a `layout` weight as they are (else the reference entry runs, and reports what is wrong). */
export function w8a8KernelApplies(layout: string, x: Tensor, w: AffineQuantizedTensor, bias: Tensor | null): boolean {
  return w.layout.name === layout && x.ndim >= 1 && x.shape.at(-1) === w.shape[1] && (bias === null || bias.dtype === x.dtype);
}

registerLayout("w8a8", (options) => new W8A8Layout(options.staticActivation === 1));
registerQuantizedLinear({
  name: "w8a8: quantizeRowsInt8 / quantizeAffine + linearInt8Int8",
  priority: QuantizedLinearPriority.KERNEL,
  condition: (x, w, bias) => w8a8KernelApplies("w8a8", x, w, bias),
  impl: (x, w, bias, opts) => w8a8KernelLinear(x, w, bias, opts),
});
registerQuantizedLinear({
  name: "w8a8: quantize x with the affine primitives + dense f32 linear",
  priority: QuantizedLinearPriority.FALLBACK,
  condition: (_x, w) => w.layout.name === "w8a8",
  impl: (x, w, bias, opts) => w8a8ReferenceLinear(x, w, bias, opts),
});
