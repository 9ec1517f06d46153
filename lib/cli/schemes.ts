/**
 * The named quantization and sparsity schemes a whole Llama can be put in (`--config` of tao generate
 * and tao eval, the rows of bench/llama_quality.ts): the dtype the model is loaded in, then what is done
 * to its Linear layers. Every Linear is selected (lm_head too, as torchao's quantize_ does); a layer a
 * config cannot take stays as it is and is reported. SmoothQuant and Wanda calibrate on token
 * sequences the caller gives (keep them out of any evaluation slice) through Llama.forward, whose
 * Linear inputs must reach the layers' inputObserver; where they do not, apply() is a TaoError
 * saying calibration saw no input. GPTQ and AWQ calibrate the same way; HQQ needs no calibration.
 */
import { fromArray } from "../creation.ts";
import type { DType } from "../dtypes.ts";
import { int4WeightOnly, quantize, sparsify, type QuantizeReport } from "../quantization/quant_api.ts";
import { uintxWeightOnly } from "../quantization/uintx_config.ts";
import { insertSmoothQuantObservers, smoothQuant } from "../quantization/smoothquant.ts";
import { semiSparseWeight } from "../sparsity/configs.ts";
import { WandaSparsifier } from "../sparsity/wanda.ts";
import type { Llama } from "../models/llama.ts";
import { CLI_CONFIGS } from "./quantize.ts";
import { calibrateLlama } from "../models/calibrate.ts";
import { gptq } from "../quantization/gptq.ts";
import { awq } from "../quantization/awq.ts";
import { autoquant, finalizeAutoquant } from "../quantization/autoquant/autoquant.ts";
import { INT4_AUTOQUANT_CLASS_LIST } from "../quantization/autoquant/candidates.ts";

/** How many text pieces SmoothQuant and Wanda calibrate on (the CLI and the quality table). */
export const CALIBRATION_PIECES = 16;

/** A named scheme. */
export interface LlamaScheme {
  name: string;
  /** One line for tables and --help. */
  summary: string;
  /** The dtype the model is loaded in. */
  dtype: DType;
  /** Whether apply() runs calibration sequences through the model. */
  calibrates: boolean;
  /** Puts the model (loaded in `dtype`) in this scheme; null when it only changes the dtype. */
  apply(model: Llama, calibration: readonly number[][]): QuantizeReport | null;
}

/** GPTQ weight-only with `bits` bits (4: the int4 layouts, else uintx) and group `groupSize`, calibrated on the given sequences (layer by layer). */
const gptqScheme = (bits: number, groupSize: number): LlamaScheme => ({
  name: `gptq-int${bits}-${groupSize}`, summary: `GPTQ ${bits === 4 ? "int4" : `uint${bits}`} weight-only, group ${groupSize} (percdamp 0.01), calibrated`,
  dtype: "f32", calibrates: true, apply: (model, calibration) => gptq(model, { bits, groupSize, calibration }),
});

/** AWQ scales (folded into the norms) then int4 weight-only RTN with group `groupSize`, calibrated. */
const awqScheme = (groupSize: number): LlamaScheme => ({
  name: `awq-int4-${groupSize}`, summary: `AWQ int4 weight-only, group ${groupSize} (scales folded into the preceding op), calibrated`, dtype: "f32",
  calibrates: true, apply: (model, calibration) => awq(model, { groupSize, calibration }),
});

/** HQQ weight-only with `bits` bits (4: the int4 layouts, else uintx) and group `groupSize` (calibration-free). */
const hqqScheme = (bits: number, groupSize: number): LlamaScheme => ({
  name: `hqq-int${bits}-${groupSize}`, summary: `${bits === 4 ? "int4" : `uint${bits}`} weight-only, group ${groupSize}, HQQ scale/zero (no calibration)`,
  dtype: "f32", calibrates: false,
  apply: (model) => quantize(model, bits === 4 ? int4WeightOnly({ groupSize, hqq: true }) : uintxWeightOnly({ bits, groupSize, hqq: true })),
});

/** uintx weight-only round-to-nearest (torchao's uintx: integer zero points) with `bits` bits and group `groupSize`. */
const uintxScheme = (bits: number, groupSize: number): LlamaScheme => ({
  name: `uint${bits}wo-${groupSize}`, summary: `uint${bits} weight-only, group ${groupSize}, round-to-nearest (torchao's uintx)`, dtype: "f32",
  calibrates: false, apply: (model) => quantize(model, uintxWeightOnly({ bits, groupSize })),
});

const dtypeOnly = (name: string, dtype: DType, summary: string): LlamaScheme => ({ name, summary, dtype, calibrates: false, apply: () => null });

const configSchemes: LlamaScheme[] = Object.entries(CLI_CONFIGS).map(([name, make]) => ({
  name, summary: `quantize(model, ${make().record.name})`, dtype: "f32", calibrates: false, apply: (model) => quantize(model, make()),
}));

/**
 * A stand-in workload for autoquant when no calibration is given: a 16-token prompt and 4 decode
 * steps (batch 1), so both prefill-like and decode-like shapes are recorded.
 */
function promptAndSteps(model: Llama): number[][] {
  const ids = (n: number, salt: number) => Array.from({ length: n }, (_, i) => (i * 7919 + salt) % model.config.vocabSize);
  using cache = model.newCache(1, 20);
  using prompt = fromArray(Int32Array.from(ids(16, 1)), { shape: [1, 16] }).to(model.device);
  model.forward(prompt, cache).dispose();
  for (let s = 0; s < 4; s++) {
    using one = fromArray(Int32Array.from(ids(1, s)), { shape: [1, 1] }).to(model.device);
    model.forward(one, cache).dispose();
  }
  return [];
}

/** Every scheme, in table order. */
export const LLAMA_SCHEMES: readonly LlamaScheme[] = [
  dtypeOnly("f32", "f32", "float32 weights and activations (the reference)"),
  dtypeOnly("bf16", "bf16", "bfloat16 weights and activations"),
  ...configSchemes,
  gptqScheme(4, 32),
  gptqScheme(4, 64),
  hqqScheme(4, 32),
  hqqScheme(4, 64),
  awqScheme(32),
  awqScheme(64),
  uintxScheme(3, 32),
  hqqScheme(3, 32),
  gptqScheme(3, 32),
  uintxScheme(3, 64),
  hqqScheme(3, 64),
  gptqScheme(3, 64),
  uintxScheme(2, 32), // 2 bits at group 64 is worse than a uniform guess on stories260K (ppl > 512, its vocabulary)
  hqqScheme(2, 32),
  gptqScheme(2, 32),
  {
    name: "smoothquant", summary: "SmoothQuant W8A8 (alpha 0.5), calibrated", dtype: "f32", calibrates: true,
    apply(model, calibration) {
      insertSmoothQuantObservers(model, { alpha: 0.5 });
      calibrateLlama(model, calibration);
      return smoothQuant(model);
    },
  },
  {
    name: "autoquant", summary: "autoquant: per Linear the fastest of none / W8A8 / int4 g64 above 20 dB SQNR, timed on this device", dtype: "f32",
    calibrates: true,
    apply(model, calibration) {
      autoquant(model, { classList: INT4_AUTOQUANT_CLASS_LIST, manual: true, minSqnr: 20 });
      if (calibration.length > 0) calibrateLlama(model, calibration);
      else promptAndSteps(model);
      finalizeAutoquant(model);
      return null;
    },
  },
  { name: "sparse24", summary: "2:4 magnitude pruning, semi-sparse f32 weights", dtype: "f32", calibrates: false, apply: (model) => sparsify(model, semiSparseWeight()) },
  {
    name: "wanda24", summary: "2:4 Wanda pruning (|w|·‖X_j‖), calibrated, semi-sparse f32 weights", dtype: "f32", calibrates: true,
    apply(model, calibration) {
      const sparsifier = new WandaSparsifier();
      try {
        sparsifier.prepare(model);
        calibrateLlama(model, calibration);
        sparsifier.step();
        sparsifier.squashMask();
      } finally {
        sparsifier.dispose();
      }
      return sparsify(model, semiSparseWeight());
    },
  },
];

/** The scheme named `name`, or undefined. */
export function llamaScheme(name: string): LlamaScheme | undefined {
  return LLAMA_SCHEMES.find((s) => s.name === name);
}
