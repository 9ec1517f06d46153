/**
 * SmoothQuant (Xiao et al. 2022; torchao's smoothquant flow): insertSmoothQuantObservers records
 * the running max |x_j| of each input channel of each selected Linear during calibration;
 * smoothQuant(model) then computes each layer's equalization scale
 *   s_j = max|X_j|^α / max|W_j|^(1−α)
 * (max|W_j| over the output channels), folds s into the weight (W' = W · diag(s), quantized to
 * int8 per output channel) and 1/s into the activation quantization, giving W8A8 in the
 * SmoothQuantLayout (lib/dtypes/smoothquant_layout.ts), through quantize().
 */
import { invalid } from "../errors.ts";
import { fromArray } from "../creation.ts";
import type { Tensor } from "../tensor.ts";
import type { Module } from "../nn/index.ts";
import type { QuantConfig, QuantizeReport } from "./quant_api.ts";
import { AbsMaxObserver, blockAbsMax } from "./observers.ts";
import { attachObservers, observedLinears, quantizeEach, type LinearFilter } from "./calibration.ts";
import { quantizeW8A8Weight, scaleColumns } from "../dtypes/w8a8_layout.ts";
import { SmoothQuantLayout } from "../dtypes/smoothquant_layout.ts";

/** Smallest equalization scale (as the SmoothQuant paper's code clamps it). */
const MIN_SCALE = 1e-5;

function checkAlpha(alpha: number, op: string): void {
  if (!(alpha >= 0 && alpha <= 1)) throw invalid(op, `alpha must be in [0, 1], not ${alpha}`);
}

/**
 * The equalization scale of one layer from the activations' and the weight's per-input-channel
 * absolute maxima: s_j = max(max|X_j|^α / max|W_j|^(1−α), 1e-5), and s_j = 1 where either maximum
 * is 0 (nothing to balance: a channel calibration never saw active, or a zero weight column).
 * TaoError if an activation maximum is not finite.
 */
export function equalizationScale(activationAbsMax: Float32Array, weightAbsMax: Float32Array, alpha: number): Float32Array {
  const op = "equalizationScale";
  checkAlpha(alpha, op);
  if (activationAbsMax.length !== weightAbsMax.length) throw invalid(op, `${activationAbsMax.length} activation channels, ${weightAbsMax.length} weight columns`);
  const bad = activationAbsMax.findIndex((v) => !Number.isFinite(v));
  if (bad !== -1) throw invalid(op, `input channel ${bad} saw non-finite values (max |x| = ${activationAbsMax[bad]})`);
  return activationAbsMax.map((x, j) => {
    const w = weightAbsMax[j]!;
    return x === 0 || w === 0 ? 1 : Math.max(x ** alpha / w ** (1 - alpha), MIN_SCALE);
  });
}

/** Options of smoothQuantConfig. */
export interface SmoothQuantConfigOptions {
  /** max |x_j| per input channel seen in calibration (AbsMaxObserver.absMax). */
  activationAbsMax: Float32Array;
  /** Migration strength α in [0, 1] (default 0.5). */
  alpha?: number;
}

/**
 * The config smoothQuant applies to one layer: its weight W [N, K] (K = activationAbsMax.length)
 * becomes W' = W · diag(s) with s = equalizationScale(activationAbsMax, max|W_j|, α), rounded to
 * W's dtype and quantized like int8DynamicActivationInt8Weight's weights, with s stored beside it.
 */
export function smoothQuantConfig(opts: SmoothQuantConfigOptions): QuantConfig {
  const op = "smoothQuantConfig";
  const { activationAbsMax, alpha = 0.5 } = opts;
  checkAlpha(alpha, op);
  const record = { name: "smoothquant", alpha };
  const layout = new SmoothQuantLayout();
  return {
    record,
    skipReason: () => null,
    quantizeWeight: (w: Tensor) => {
      const k = w.shape[1];
      if (w.ndim !== 2 || k !== activationAbsMax.length) throw invalid(op, `weight [${w.shape}] does not take ${activationAbsMax.length} input channels`);
      using wMax = blockAbsMax(w, [w.shape[0]!, 1]);
      const s = equalizationScale(activationAbsMax, wMax.toArray() as Float32Array, alpha);
      using w32 = w.dtype === "f32" ? null : w.cast("f32");
      using smoothed = scaleColumns(w32 ?? w, s);
      using rounded = w.dtype === "f32" ? null : smoothed.cast(w.dtype);
      const eq = fromArray(s, { device: w.device });
      try {
        return quantizeW8A8Weight(rounded ?? smoothed, layout, { equalization_scale: eq }, record);
      } catch (e) {
        eq.dispose();
        throw e;
      }
    },
  };
}

/** An AbsMaxObserver that also carries the layer's migration strength α. */
export class SmoothQuantObserver extends AbsMaxObserver {
  constructor(readonly alpha: number) {
    super();
    checkAlpha(alpha, "SmoothQuantObserver");
  }
}

/** Options of insertSmoothQuantObservers. */
export interface SmoothQuantObserverOptions {
  /** Migration strength α in [0, 1] (default 0.5). */
  alpha?: number;
  /** Which Linears to smooth (default: all). */
  filter?: LinearFilter;
}

/** Attaches a SmoothQuantObserver to each selected Linear's input; returns them by qualified name. */
export function insertSmoothQuantObservers(model: Module, opts: SmoothQuantObserverOptions = {}): Map<string, SmoothQuantObserver> {
  const alpha = opts.alpha ?? 0.5;
  checkAlpha(alpha, "insertSmoothQuantObservers");
  return attachObservers(model, () => new SmoothQuantObserver(alpha), opts.filter);
}

/**
 * Converts every Linear carrying a SmoothQuantObserver with smoothQuantConfig and detaches the
 * observer. Every observer must have seen an input, all finite (checked for all layers before any
 * changes; TaoError otherwise). Layers already quantized are reported as skipped.
 */
export function smoothQuant(model: Module): QuantizeReport {
  const op = "smoothQuant";
  const layers = observedLinears(model, SmoothQuantObserver).map(({ name, linear, observer }) => {
    const { absMax, alpha } = observer;
    if (absMax === null) throw invalid(op, `${name}: calibration sent no input through this layer`);
    const bad = absMax.findIndex((v) => !Number.isFinite(v));
    if (bad !== -1) throw invalid(op, `${name}: input channel ${bad} saw non-finite values`);
    return { linear, config: smoothQuantConfig({ activationAbsMax: absMax, alpha }) };
  });
  return quantizeEach(model, layers);
}
