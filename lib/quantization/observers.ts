/**
 * Calibration observers (torch.ao.quantization's MinMaxObserver, MovingAverageMinMaxObserver and
 * per-channel variants, and SmoothQuant's running absolute max). An observer is an InputObserver:
 * attach it to a Linear (`linear.inputObserver = obs`, or insertObservers / insertSmoothQuantObservers)
 * and every input the layer sees updates its statistics. The reductions run on the input's device
 * through chooseQParamsAffine; only the per-channel results (one value per channel) come to the
 * host, where the running statistics live as Float32Arrays.
 */
import { invalid } from "../errors.ts";
import { finfo } from "../dtypes.ts";
import { fromArray, full } from "../creation.ts";
import type { Tensor } from "../tensor.ts";
import { linear } from "../ops/linear.ts";
import type { InputObserver } from "../nn/linear.ts";
import { chooseQParamsAffine, MappingType, ZeroPointDomain } from "./primitives.ts";

/** Max |x| over each block of `x`: a new f32 tensor with one value per block. NaN in a block gives NaN. */
export function blockAbsMax(x: Tensor, blockSize: readonly number[]): Tensor {
  // SYMMETRIC over the range [-1, 1]: s = max(-min(mn, 0), max(mx, 0)) / 1 = max |x|, exactly.
  return chooseQParamsAffine(x, MappingType.SYMMETRIC, blockSize, "int8", {
    quantMin: -1, quantMax: 1, zeroPointDomain: ZeroPointDomain.NONE, eps: 0, scaleDtype: "f32",
  }).scale;
}

/** Min of each block of `x` as host floats. A block with a NaN, or a range beyond f32, gives NaN. */
function blockMin(x: Tensor, blockSize: readonly number[]): Float32Array {
  // ASYMMETRIC over [-1, 0] in the FLOAT domain: mid = 0, so the zero point mn + s·mid is mn exactly.
  const { scale, zeroPoint } = chooseQParamsAffine(x, MappingType.ASYMMETRIC, blockSize, "int8", {
    quantMin: -1, quantMax: 0, zeroPointDomain: ZeroPointDomain.FLOAT, preserveZero: false, eps: 0,
    scaleDtype: "f32", zeroPointDtype: "f32",
  });
  scale.dispose();
  using zp = zeroPoint!;
  return zp.toArray() as Float32Array;
}

/** [min, max] of each block of `x` as host floats (max = −min(−x); the negation is exact). */
function blockMinMax(x: Tensor, blockSize: readonly number[]): [Float32Array, Float32Array] {
  using minusOne = full([1, 1], -1, { dtype: x.dtype, device: x.device });
  using flat = linear(x.reshape(x.numel, 1), minusOne);
  using negated = flat.reshape(...x.shape);
  return [blockMin(x, blockSize), blockMin(negated, blockSize).map((v) => -v)];
}

/** What statistics are kept per: the whole tensor, or each index along one axis (torchao's PerTensor / PerAxis). */
export type Granularity = "tensor" | { axis: number };

/** The block size reducing `shape` to one value per tensor or per index of `axis`, and the channel count. */
function blocksOf(shape: readonly number[], granularity: Granularity, op: string): { blockSize: number[]; channels: number } {
  if (granularity === "tensor") return { blockSize: [...shape], channels: 1 };
  const { axis } = granularity;
  if (!Number.isInteger(axis) || axis < -shape.length || axis >= shape.length) throw invalid(op, `axis ${axis} is out of range for [${shape}]`);
  const a = axis < 0 ? axis + shape.length : axis;
  return { blockSize: shape.map((d, i) => (i === a ? 1 : d)), channels: shape[a]! };
}

/** Options of the min/max observers (torch.ao's dtype, qscheme, quant_min/max, eps and ch_axis). */
export interface MinMaxObserverOptions {
  /** "tensor" (default) or { axis } for per-channel statistics along that axis (negative counts from the end). */
  granularity?: Granularity;
  /** SYMMETRIC (default) or ASYMMETRIC. */
  mappingType?: MappingType;
  /** "int8" (default) or "uint8". */
  targetDtype?: "int8" | "uint8";
  /** Quantized range (default: the target's, [-128, 127] or [0, 255]). */
  quantMin?: number;
  quantMax?: number;
  /** Smallest scale (default: f32 machine epsilon, as torch.ao). */
  eps?: number;
}

/** Scale and zero point from observed statistics, one per channel (one for "tensor"). */
export interface ObservedQParams {
  /** f32 [channels] on the host. */
  scale: Tensor;
  /** i32 [channels] on the host (INT domain: q = round(x / s) + zp). */
  zeroPoint: Tensor;
}

/**
 * Running min and max of every input, per tensor or per channel (torch.ao's MinMaxObserver and
 * PerChannelMinMaxObserver): min = min(min, min(x)), max = max(max, max(x)). NaN in an input makes
 * its channel's statistics NaN, and calculateQParams then throws.
 */
export class MinMaxObserver implements InputObserver {
  readonly granularity: Granularity;
  readonly mappingType: MappingType;
  readonly targetDtype: "int8" | "uint8";
  readonly quantMin: number | undefined;
  readonly quantMax: number | undefined;
  readonly eps: number;
  /** Running minimum per channel (null before the first input). */
  min: Float32Array | null = null;
  /** Running maximum per channel (null before the first input). */
  max: Float32Array | null = null;

  constructor(opts: MinMaxObserverOptions = {}) {
    const op = this.constructor.name;
    this.granularity = opts.granularity ?? "tensor";
    this.mappingType = opts.mappingType ?? MappingType.SYMMETRIC;
    this.targetDtype = opts.targetDtype ?? "int8";
    this.quantMin = opts.quantMin;
    this.quantMax = opts.quantMax;
    this.eps = opts.eps ?? finfo("f32").eps;
    if (this.mappingType !== MappingType.SYMMETRIC && this.mappingType !== MappingType.ASYMMETRIC) {
      throw invalid(op, `mappingType must be SYMMETRIC or ASYMMETRIC, not ${this.mappingType}`);
    }
    if (this.targetDtype !== "int8" && this.targetDtype !== "uint8") throw invalid(op, `targetDtype must be "int8" or "uint8", not ${this.targetDtype}`);
    if (!(this.eps >= 0)) throw invalid(op, `eps must be >= 0, not ${this.eps}`);
  }

  /** Updates the statistics with `x` (any float dtype and device; the channel count must not change). */
  observe(x: Tensor): void {
    const op = `${this.constructor.name}.observe`;
    const { blockSize, channels } = blocksOf(x.shape, this.granularity, op);
    if (this.min !== null && this.min.length !== channels) throw invalid(op, `x has ${channels} channels, earlier inputs ${this.min.length}`);
    const [mn, mx] = blockMinMax(x, blockSize);
    this.update(mn, mx);
  }

  /** Folds one input's per-channel min and max into the running statistics. */
  protected update(mn: Float32Array, mx: Float32Array): void {
    if (this.min === null || this.max === null) {
      [this.min, this.max] = [mn, mx];
      return;
    }
    for (let c = 0; c < mn.length; c++) {
      this.min[c] = Math.min(this.min[c]!, mn[c]!); // Math.min/max propagate NaN
      this.max[c] = Math.max(this.max[c]!, mx[c]!);
    }
  }

  /**
   * Scale and zero point of the observed range, torch.ao's formulas (chooseQParamsAffine on
   * [min, max] per channel, preserveZero): symmetric s = max(−min(min, 0), max(max, 0)) /
   * ((qmax − qmin) / 2), asymmetric s = (max(max, 0) − min(min, 0)) / (qmax − qmin), then
   * s = max(s, eps). TaoError before any input, or if a statistic is not finite.
   */
  calculateQParams(): ObservedQParams {
    const op = `${this.constructor.name}.calculateQParams`;
    const { min, max } = this;
    if (min === null || max === null) throw invalid(op, "no input was observed");
    const bad = [...min, ...max].findIndex((v) => !Number.isFinite(v));
    if (bad !== -1) throw invalid(op, `channel ${bad % min.length} saw non-finite values (min ${min[bad % min.length]}, max ${max[bad % min.length]})`);
    const pairs = new Float32Array(min.length * 2);
    min.forEach((v, c) => ((pairs[2 * c] = v), (pairs[2 * c + 1] = max[c]!)));
    using t = fromArray(pairs, { shape: [min.length, 2] });
    const { scale, zeroPoint } = chooseQParamsAffine(t, this.mappingType, [1, 2], this.targetDtype, {
      quantMin: this.quantMin, quantMax: this.quantMax, eps: this.eps, scaleDtype: "f32",
      zeroPointDomain: ZeroPointDomain.INT, zeroPointDtype: "i32",
    });
    return { scale: scale.reshape(min.length), zeroPoint: zeroPoint!.reshape(min.length) };
  }
}

/** Options of MovingAverageMinMaxObserver: MinMaxObserver's and the averaging constant. */
export interface MovingAverageMinMaxObserverOptions extends MinMaxObserverOptions {
  /** c in min = min + c·(min(x) − min) (default 0.01, as torch.ao); 0 < c <= 1. */
  averagingConstant?: number;
}

/**
 * torch.ao's MovingAverageMinMaxObserver (and its per-channel variant): the first input sets min
 * and max; each later one moves them toward its own: min += c·(min(x) − min), max += c·(max(x) − max).
 */
export class MovingAverageMinMaxObserver extends MinMaxObserver {
  readonly averagingConstant: number;

  constructor(opts: MovingAverageMinMaxObserverOptions = {}) {
    super(opts);
    const c = opts.averagingConstant ?? 0.01;
    if (!(c > 0 && c <= 1)) throw invalid("MovingAverageMinMaxObserver", `averagingConstant must be in (0, 1], not ${c}`);
    this.averagingConstant = c;
  }

  protected override update(mn: Float32Array, mx: Float32Array): void {
    if (this.min === null || this.max === null) {
      [this.min, this.max] = [mn, mx];
      return;
    }
    const c = this.averagingConstant;
    for (let i = 0; i < mn.length; i++) {
      this.min[i] = this.min[i]! + c * (mn[i]! - this.min[i]!);
      this.max[i] = this.max[i]! + c * (mx[i]! - this.max[i]!);
    }
  }
}

/**
 * SmoothQuant's observer: the running max of |x| of each input channel (the last dim), over every
 * row of every input seen. NaN in an input makes its channel's value NaN.
 */
export class AbsMaxObserver implements InputObserver {
  /** max |x_j| per input channel j (null before the first input). */
  absMax: Float32Array | null = null;

  observe(x: Tensor): void {
    const op = "AbsMaxObserver.observe";
    const { blockSize, channels } = blocksOf(x.shape, { axis: -1 }, op);
    if (this.absMax !== null && this.absMax.length !== channels) throw invalid(op, `x has ${channels} channels, earlier inputs ${this.absMax.length}`);
    using m = blockAbsMax(x, blockSize);
    const now = m.toArray() as Float32Array;
    if (this.absMax === null) {
      this.absMax = now;
      return;
    }
    for (let j = 0; j < now.length; j++) this.absMax[j] = Math.max(this.absMax[j]!, now[j]!);
  }
}
