/**
 * The static quantization flow (torchao's calibration flow, tutorials/calibration_flow/static_quant.py):
 * insertObservers attaches an activation observer to each selected Linear, the caller runs
 * calibration batches through the model, and convertToStatic turns every observed Linear into W8A8
 * int8 with the activation scale fixed from what its observer saw
 * (int8StaticActivationInt8Weight, through quantize()).
 */
import { invalid } from "../errors.ts";
import { fromArray } from "../creation.ts";
import type { QuantConfig, QuantizeReport } from "./quant_api.ts";
import { MinMaxObserver } from "./observers.ts";
import { attachObservers, observedLinears, quantizeEach, type LinearFilter } from "./calibration.ts";
import { ACTIVATION_RANGE, quantizeW8A8Weight, W8A8Layout } from "../dtypes/w8a8_layout.ts";
import { MappingType } from "./primitives.ts";
import type { Module } from "../nn/index.ts";

/** Options of int8StaticActivationInt8Weight. */
export interface Int8StaticOptions {
  /** The fixed activation scale (positive, finite): x quantizes to clamp(round(x / actScale), -127, 127). */
  actScale: number;
}

/**
 * W8A8 int8 with a fixed per-tensor activation scale (torchao's Int8StaticActivationInt8WeightConfig):
 * weights as int8DynamicActivationInt8Weight's, activations symmetric int8 in [-127, 127] with
 * scale `actScale`, stored beside the weight (act_scale, f32 [1]) and in the config record.
 */
export function int8StaticActivationInt8Weight(opts: Int8StaticOptions): QuantConfig {
  const { actScale } = opts;
  if (!(Number.isFinite(actScale) && actScale > 0)) throw invalid("int8StaticActivationInt8Weight", `actScale must be positive and finite, not ${actScale}`);
  const record = { name: "int8_static_activation_int8_weight", actScale: Math.fround(actScale) };
  const layout = new W8A8Layout(true);
  return {
    record,
    skipReason: () => null,
    quantizeWeight: (w) => {
      const act = fromArray(Float32Array.of(actScale), { device: w.device });
      try {
        return quantizeW8A8Weight(w, layout, { act_scale: act }, record);
      } catch (e) {
        act.dispose();
        throw e;
      }
    },
  };
}

/** Options of insertObservers. */
export interface InsertObserversOptions {
  /** Which Linears to observe (default: all). */
  filter?: LinearFilter;
  /**
   * Makes each layer's activation observer: a per-tensor, symmetric int8 MinMaxObserver or
   * MovingAverageMinMaxObserver (default: MinMaxObserver over [-127, 127]).
   */
  observer?: () => MinMaxObserver;
}

/** Attaches a fresh activation observer to each selected Linear's input; returns them by qualified name. */
export function insertObservers(model: Module, opts: InsertObserversOptions = {}): Map<string, MinMaxObserver> {
  const make = opts.observer ?? (() => new MinMaxObserver({ quantMin: ACTIVATION_RANGE.quantMin, quantMax: ACTIVATION_RANGE.quantMax }));
  return attachObservers(model, make, opts.filter);
}

/**
 * Quantizes every Linear that carries a MinMaxObserver (insertObservers) to static W8A8 with the
 * observer's scale, and detaches the observer. Each observer must be per tensor, SYMMETRIC and int8
 * (what one int8 GEMM can apply) and must have seen finite inputs: all are checked before any layer
 * changes (TaoError otherwise). Layers already quantized are reported as skipped (their observer
 * stays).
 */
export function convertToStatic(model: Module): QuantizeReport {
  const op = "convertToStatic";
  const layers = observedLinears(model, MinMaxObserver).map(({ name, linear, observer }) => {
    if (observer.granularity !== "tensor" || observer.mappingType !== MappingType.SYMMETRIC || observer.targetDtype !== "int8") {
      throw invalid(op, `${name}: the observer must be per tensor, SYMMETRIC and int8`);
    }
    const { scale, zeroPoint } = observer.calculateQParams();
    zeroPoint.dispose();
    using s = scale;
    return { linear, config: int8StaticActivationInt8Weight({ actScale: s.toArray()[0]! }) };
  });
  return quantizeEach(model, layers);
}
