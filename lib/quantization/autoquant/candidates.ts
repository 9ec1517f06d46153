/**
 * Autoquant's candidates and class lists (torchao's DEFAULT_AUTOQUANT_CLASS_LIST and friends): a
 * candidate is a QuantConfig with a short name, or "none" (the float weight as it is, torchao's
 * AQDefaultLinearWeight).
 */
import type { Tensor } from "../../tensor.ts";
import type { AffineQuantizedTensor } from "../../dtypes/affine_quantized_tensor.ts";
import { linearInt8Int8, quantizeRowsInt8 } from "../../ops/linear_w8a8.ts";
import { int4WeightOnly, int8WeightOnly, type QuantConfig } from "../quant_api.ts";
import { int8DynamicActivationInt8Weight } from "../dynamic_configs.ts";
import { float8DynamicActivationFloat8Weight, float8WeightOnly } from "../float8_configs.ts";
import { int8DynamicActivationInt8SemiSparseWeight, semiSparseWeight } from "../../sparsity/configs.ts";
import { floatCast } from "./float_cast.ts";

/** One way autoquant may run a layer. */
export interface AutoquantCandidate {
  /** Unique within a list; names the candidate in reports and in the timing cache. */
  readonly name: string;
  /** The config that quantizes the weight; null keeps the float weight. */
  readonly config: QuantConfig | null;
  /** Compute capability a CUDA device needs (89 for float8 matmuls); absent: any. */
  readonly minSm?: number;
  /**
   * For mode ["interpolate", c] (dynamic activation quantization): a runner of the layer's matmul
   * alone, on x quantized once up front; each run disposes its output.
   */
  matmulOnly?(x: Tensor, w: AffineQuantizedTensor, bias: Tensor | null): { run(): void; dispose(): void };
}

/** A candidate from a config, named by `name` (default: the config's record name). */
export function candidate(config: QuantConfig, name = String(config.record.name)): AutoquantCandidate {
  return { name, config };
}

/** The float weight as it is. */
export const NONE: AutoquantCandidate = { name: "none", config: null };

const W8A8: AutoquantCandidate = {
  name: "w8a8",
  config: int8DynamicActivationInt8Weight(),
  matmulOnly(x, w, bias) {
    const { q, scale } = quantizeRowsInt8(x);
    const wscale = w.storage.scale!.reshape(w.shape[0]!);
    return {
      run: () => linearInt8Int8(q, scale, w.storage.int_data!, wscale, bias, { dtype: x.dtype }).dispose(),
      dispose: () => (q.dispose(), scale.dispose()),
    };
  },
};
const INT8WO = candidate(int8WeightOnly(), "int8wo");
const INT4WO = candidate(int4WeightOnly({ groupSize: 64 }), "int4wo-64");
const FLOAT8WO = { ...candidate(float8WeightOnly(), "float8wo"), minSm: 89 };
const FLOAT8_ROW = { ...candidate(float8DynamicActivationFloat8Weight({ granularity: "row" }), "float8-row"), minSm: 89 };
const FLOAT8_TENSOR = { ...candidate(float8DynamicActivationFloat8Weight({ granularity: "tensor" }), "float8-tensor"), minSm: 89 };

/** none, int8 weight-only, int8 dynamic (W8A8): torchao's default list. */
export const DEFAULT_AUTOQUANT_CLASS_LIST: readonly AutoquantCandidate[] = [NONE, INT8WO, W8A8];
/** none, W8A8, int4 weight-only (group 64). */
export const INT4_AUTOQUANT_CLASS_LIST: readonly AutoquantCandidate[] = [NONE, W8A8, INT4WO];
/** The weight (and the activations) in f32, f16 or bf16. */
export const FLOAT_AUTOQUANT_CLASS_LIST: readonly AutoquantCandidate[] = (["f32", "f16", "bf16"] as const).map((d) => candidate(floatCast(d), d));
/** none, float8 weight-only, float8 dynamic per row and per tensor (CUDA: compute capability 8.9+). */
export const FP8_AUTOQUANT_CLASS_LIST: readonly AutoquantCandidate[] = [NONE, FLOAT8WO, FLOAT8_ROW, FLOAT8_TENSOR];
/** none, 2:4 sparse float weights, W8A8 with 2:4 sparse int8 weights (the weight is magnitude-pruned). */
export const SPARSE_AUTOQUANT_CLASS_LIST: readonly AutoquantCandidate[] = [
  NONE, candidate(semiSparseWeight(), "2:4"), candidate(int8DynamicActivationInt8SemiSparseWeight(), "w8a8-2:4"),
];
/** Every candidate above, once each. */
export const ALL_AUTOQUANT_CLASS_LIST: readonly AutoquantCandidate[] = [...new Map([
  ...DEFAULT_AUTOQUANT_CLASS_LIST, ...INT4_AUTOQUANT_CLASS_LIST, ...FLOAT_AUTOQUANT_CLASS_LIST, ...FP8_AUTOQUANT_CLASS_LIST,
  ...SPARSE_AUTOQUANT_CLASS_LIST,
].map((c) => [c.name, c])).values()];

/** The class lists by the names the CLI takes. */
export const AUTOQUANT_CLASS_LISTS: Readonly<Record<string, readonly AutoquantCandidate[]>> = {
  default: DEFAULT_AUTOQUANT_CLASS_LIST, int4: INT4_AUTOQUANT_CLASS_LIST, float: FLOAT_AUTOQUANT_CLASS_LIST,
  fp8: FP8_AUTOQUANT_CLASS_LIST, sparse: SPARSE_AUTOQUANT_CLASS_LIST, all: ALL_AUTOQUANT_CLASS_LIST,
};
