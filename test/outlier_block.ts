/**
 * The SmoothQuant accuracy experiment (issue 4): a transformer-like MLP block, Linear d → 4d, ReLU,
 * Linear 4d → d, fed activations whose few outlier input channels are 10–100× the rest, as LLM
 * activations after a norm are. The same block is converted three ways (plain dynamic W8A8,
 * SmoothQuant α = 0.5 after calibration, static W8A8 after calibration) and each output's SQNR
 * against the float block is measured on fresh inputs. Used by test/smoothquant.test.ts and
 * bench/smoothquant_accuracy.ts.
 */
import {
  convertToStatic, fromArray, insertObservers, insertSmoothQuantObservers, int8DynamicActivationInt8Weight, Linear, Module, quantize,
  randn, Sequential, smoothQuant, sqnr, type Tensor,
} from "../lib/index.ts";
import { normals, rng } from "./helpers.ts";

/** ReLU on the host (the test model's nonlinearity; lib has no activation ops yet). */
export class HostRelu extends Module {
  forward(x: Tensor): Tensor {
    const v = x.toArray() as Float32Array;
    return fromArray(v.map((e) => Math.max(e, 0)), { shape: [...x.shape] }).to(x.device);
  }
}

/** Shape of the experiment. */
export interface OutlierBlockOptions {
  d: number;
  /** Input channels that are outliers, and the factor of each (10–100). */
  outliers: Record<number, number>;
  seed: number;
}

export const DEFAULT_BLOCK: OutlierBlockOptions = { d: 256, outliers: { 7: 100, 50: 40, 123: 20, 200: 10, 201: 60 }, seed: 1 };

/** The block: Linear d → 4d (N(0, 1/d) weights), ReLU, Linear 4d → d (N(0, 1/4d)), f32 on the CPU. */
export function outlierBlock(o: OutlierBlockOptions): Sequential {
  const layer = (i: number, k: number, n: number) => {
    const l = new Linear(k, n, { seed: o.seed + i });
    using w = randn([n, k], { seed: o.seed + 100 + i, std: 1 / Math.sqrt(k) });
    (l.weight as Tensor).copyFrom(w);
    return l;
  };
  return new Sequential(layer(0, o.d, 4 * o.d), new HostRelu(), layer(1, 4 * o.d, o.d));
}

/** m rows of N(0, 1) activations with the outlier channels scaled (fresh for each seed). */
export function outlierInputs(o: OutlierBlockOptions, m: number, seed: number): Tensor {
  const v = normals(rng(seed), m * o.d);
  for (let r = 0; r < m; r++) for (const [c, f] of Object.entries(o.outliers)) v[r * o.d + Number(c)]! *= f;
  return fromArray(v, { shape: [m, o.d] });
}

/** Output SQNR (dB) of each scheme against the float block, on `evalRows` fresh rows after `calibration` batches of 64. */
export function outlierBlockSqnr(o: OutlierBlockOptions = DEFAULT_BLOCK, calibration = 8, evalRows = 256): { w8a8: number; smoothQuant: number; static: number } {
  using x = outlierInputs(o, evalRows, o.seed + 1000);
  using reference = outlierBlock(o);
  using yRef = reference.forward(x);
  const calibrate = (model: Module & { forward(x: Tensor): Tensor }) => {
    for (let b = 0; b < calibration; b++) {
      using xb = outlierInputs(o, 64, o.seed + 2000 + b);
      model.forward(xb).dispose();
    }
  };
  const measure = (convert: (model: Sequential) => void) => {
    using model = outlierBlock(o);
    convert(model);
    using y = model.forward(x);
    return sqnr(yRef, y);
  };
  return {
    w8a8: measure((m) => quantize(m, int8DynamicActivationInt8Weight())),
    smoothQuant: measure((m) => {
      insertSmoothQuantObservers(m, { alpha: 0.5 });
      calibrate(m);
      smoothQuant(m);
    }),
    static: measure((m) => {
      insertObservers(m);
      calibrate(m);
      convertToStatic(m);
    }),
  };
}
