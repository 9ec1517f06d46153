/**
 * gptq(model, opts): GPTQ weight-only quantization (Frantar et al. 2022) to 1..7 bits, layer by layer
 * and sequentially: for each selected Linear in module order, the calibration is run through the model
 * (the Linears before it already quantized), a HessianObserver on that layer alone accumulates
 * H = 2·XᵀX / rows on the layer's device (only that one [K, K] matrix is resident), and gptqSolve
 * factors H and sweeps the weight into groups of `bits`-bit values with the native ops (lib/ops/gptq.ts:
 * CUDA kernels for a model on the GPU, the CPU kernels otherwise). The sweep rounds with min/max
 * scale and zero in the FLOAT zero-point domain, w ≈ (q − 2^(bits−1))·s + z, which is what the weight
 * is stored as: at 4 bits exactly like int4WeightOnly's (tinygemm's convention; tensor_core_tiled where
 * it fits, else plain), at other widths in the uintx layout with FLOAT zero points (as HQQ's uintx),
 * so the same kernels run them and save/load needs nothing new. The calibration runs once per layer.
 */
import { invalid } from "../errors.ts";
import { Tensor } from "../tensor.ts";
import { Linear, type Module } from "../nn/index.ts";
import type { InnerKTiles } from "../dtypes/tensor_core_tiled.ts";
import type { QuantizeReport } from "./quant_api.ts";
import type { LinearFilter } from "./calibration.ts";
import { runCalibration, type Calibration } from "./calibration_run.ts";
import { HessianObserver } from "./gptq/hessian_observer.ts";
import { checkGptqOptions, type GptqWeightOptions } from "./gptq/gptq_weight.ts";
import { gptqSolve } from "./gptq/solve.ts";
import { int4Weight, type Int4Groups } from "./int4_groups.ts";
import { uintxWeight } from "./uintx_config.ts";
import { UINTX_BITS, UINTX_GROUP_SIZES } from "../ops/linear_uintx.ts";
import { layerProgress } from "./progress.ts";

/** Options of gptq(). */
export interface GptqOptions extends Omit<GptqWeightOptions, "groupSize"> {
  /** Weight bits, 1..7: 4 (default) stores in the int4 layouts, any other width in the uintx layout. */
  bits?: number;
  /** Default 128; 32, 64, 128 or 256 for the tensor_core_tiled layout, and required by uintx (bits ≠ 4). */
  groupSize?: number;
  /** What is run through the model to see each layer's inputs. */
  calibration: Calibration;
  /** Which Linear layers to quantize (default: all). */
  filter?: LinearFilter;
  /** 4 bits: "tensor_core_tiled" (default; plain where it cannot hold a weight) or "plain". */
  layout?: "tensor_core_tiled" | "plain";
  innerKTiles?: InnerKTiles;
  /** Show a progress bar (default: when stderr is a TTY). */
  progress?: boolean;
}

/** The selected float Linears gptq can take, and the reasons for the others. */
function targets(model: Module, groupSize: number, filter?: LinearFilter): { layers: { name: string; linear: Linear }[]; report: QuantizeReport } {
  const report: QuantizeReport = { quantized: [], skipped: [] }, layers: { name: string; linear: Linear }[] = [];
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof Linear) || (filter && !filter(m, name))) continue;
    if (!(m.weight instanceof Tensor)) report.skipped.push({ name, reason: "already quantized" });
    else if (m.inFeatures % groupSize !== 0) report.skipped.push({ name, reason: `K = ${m.inFeatures} is not a multiple of groupSize ${groupSize}` });
    else layers.push({ name, linear: m });
  }
  return { layers, report };
}

/** 2·XᵀX / rows of `linear`'s inputs while `calibration` runs through `model` (f32 [k, k] on their device). */
function hessian(model: Module, linear: Linear, calibration: Calibration, op: string): Tensor {
  const observer = new HessianObserver(linear.inFeatures);
  linear.inputObserver = observer;
  try {
    runCalibration(model, calibration, op);
    return observer.take(op);
  } finally {
    linear.inputObserver = null;
    observer.dispose();
  }
}

/** The GPTQ groups of `linear`'s weight: H from its inputs, then gptqSolve on their device. */
function layerGroups(model: Module, linear: Linear, calibration: Calibration, opts: GptqWeightOptions, op: string): Int4Groups {
  using h = hessian(model, linear, calibration, op);
  return gptqSolve(linear.weight as Tensor, h, opts);
}

/**
 * Quantizes the selected Linears of `model` in place with GPTQ (see the file comment). Layers whose
 * K the group size does not divide, and layers already quantized, stay as they are and are reported.
 * Bad options are TaoErrors; on a failure, the layers before it stay quantized.
 */
export function gptq(model: Module, opts: GptqOptions): QuantizeReport {
  const op = "gptq";
  const { bits = 4, groupSize = 128, calibration, filter, layout = "tensor_core_tiled", innerKTiles = 8, progress } = opts;
  if (!UINTX_BITS.includes(bits)) throw invalid(op, `bits must be 1..7 (4: the int4 layouts, else uintx), not ${bits}`);
  if (bits !== 4 && !UINTX_GROUP_SIZES.includes(groupSize)) {
    throw invalid(op, `groupSize must be one of ${UINTX_GROUP_SIZES.join(", ")} for ${bits}-bit uintx, not ${groupSize}`);
  }
  checkGptqOptions({ ...opts, groupSize }, op);
  if (typeof calibration !== "function" && !Array.isArray(calibration)) throw invalid(op, "calibration must be a function or token sequences");
  const { layers, report } = targets(model, groupSize, filter);
  const algorithm = { algorithm: "gptq", percdamp: opts.percdamp ?? 0.01, actOrder: opts.actOrder ?? false };
  const record = bits === 4
    ? { name: "int4_weight_only", groupSize, layout, zeroPointDomain: "FLOAT", ...(layout === "tensor_core_tiled" ? { innerKTiles } : {}), ...algorithm }
    : { name: "uintx_weight_only", bits, groupSize, zeroPointDomain: "FLOAT", ...algorithm };
  const bar = layerProgress("gptq", layers.length, progress);
  try {
    for (const { name, linear } of layers) {
      const weight = linear.weight as Tensor;
      const groups = layerGroups(model, linear, calibration, { ...opts, bits, groupSize }, op);
      const q = bits === 4
        ? int4Weight(groups, { dtype: weight.dtype, device: weight.device, layout, innerKTiles }, record)
        : uintxWeight(groups, bits, { dtype: weight.dtype, device: weight.device }, record);
      linear.setParameter("weight", q);
      weight.dispose();
      report.quantized.push({ name, layout: q.layout.name });
      bar.step(name);
    }
  } finally {
    bar.stop();
  }
  return report;
}
