/**
 * LlamaConfig: the shape and hyper-parameters of a Llama-architecture decoder, its presets, and the
 * one validation every loader runs on a config read from a file.
 */
import { invalid } from "../errors.ts";

/**
 * How the rows of q_proj / k_proj are ordered within each head, which decides how RoPE must be applied:
 * - "interleaved" (llama2.c, Meta's original checkpoints): rotation pairs are consecutive rows
 *   (2i, 2i+1) of a head, rotated by angle pos·θ^(−2i/headDim).
 * - "half" (Hugging Face transformers, `rotate_half`): pair i is rows (i, i + headDim/2). HF's
 *   convert_llama_weights_to_hf.py permutes Meta's q/k rows into this order (see permuteRope in
 *   llama_weights.ts); both orders give the same model when RoPE follows the order.
 */
export type RopeStyle = "interleaved" | "half";

/** A Llama-architecture decoder's shape (RMSNorm, RoPE, grouped-query attention, SwiGLU MLP). */
export interface LlamaConfig {
  /** Model width (hidden size). */
  dim: number;
  /** SwiGLU inner width (intermediate size). */
  hiddenDim: number;
  nLayers: number;
  /** Query heads; headDim = dim / nHeads. */
  nHeads: number;
  /** Key/value heads (grouped-query attention: nHeads / nKvHeads query heads share one). */
  nKvHeads: number;
  vocabSize: number;
  /** Longest sequence the model was trained for (RoPE positions, KV-cache length). */
  seqLen: number;
  /** RoPE base θ (10000 for Llama 2 and llama2.c, 500000 for Llama 3). */
  ropeTheta: number;
  /** RMSNorm epsilon. */
  normEps: number;
  /** lm_head shares the token embedding (no lm_head.weight). */
  tiedEmbeddings: boolean;
  /** Row order of the q/k projections, i.e. which RoPE the forward applies. */
  ropeStyle: RopeStyle;
}

/** Preset names: full-size shapes for GPU benchmarks and small ones that run on a CPU. */
export type LlamaPresetName = "llama3-8b" | "llama2-7b" | "stories15M" | "tiny";

const PRESETS: Record<LlamaPresetName, LlamaConfig> = {
  "llama3-8b": {
    dim: 4096, hiddenDim: 14336, nLayers: 32, nHeads: 32, nKvHeads: 8, vocabSize: 128256, seqLen: 8192,
    ropeTheta: 500000, normEps: 1e-5, tiedEmbeddings: false, ropeStyle: "half",
  },
  "llama2-7b": {
    dim: 4096, hiddenDim: 11008, nLayers: 32, nHeads: 32, nKvHeads: 32, vocabSize: 32000, seqLen: 4096,
    ropeTheta: 10000, normEps: 1e-5, tiedEmbeddings: false, ropeStyle: "half",
  },
  // karpathy/tinyllamas stories15M (llama2.c).
  stories15M: {
    dim: 288, hiddenDim: 768, nLayers: 6, nHeads: 6, nKvHeads: 6, vocabSize: 32000, seqLen: 256,
    ropeTheta: 10000, normEps: 1e-5, tiedEmbeddings: true, ropeStyle: "interleaved",
  },
  // The shipped stories260K checkpoint (models/stories260K).
  tiny: {
    dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, seqLen: 512,
    ropeTheta: 10000, normEps: 1e-5, tiedEmbeddings: true, ropeStyle: "interleaved",
  },
};

/** The names of the presets. */
export const LLAMA_PRESETS = Object.keys(PRESETS) as LlamaPresetName[];

/** A copy of preset `name`; an unknown name is a TaoError listing the presets. */
export function llamaPreset(name: string): LlamaConfig {
  const preset = PRESETS[name as LlamaPresetName];
  if (preset === undefined) throw invalid("llamaPreset", `unknown preset ${JSON.stringify(name)}; presets: ${LLAMA_PRESETS.join(", ")}`);
  return { ...preset };
}

/** Elements per attention head. */
export function headDim(config: LlamaConfig): number {
  return config.dim / config.nHeads;
}

const INTEGER_FIELDS = ["dim", "hiddenDim", "nLayers", "nHeads", "nKvHeads", "vocabSize", "seqLen"] as const;

/**
 * Checks that `config` describes a model that can exist: positive integer sizes, dim divisible by
 * nHeads with an even head size (RoPE rotates pairs), nKvHeads dividing nHeads, positive finite
 * ropeTheta and normEps, a known ropeStyle, and a parameter count that is a safe integer even in
 * bytes (so no size computed from it overflows). Returns the config; a bad one is a TaoError
 * INVALID_ARGUMENT naming the field (prefixed by `where`, e.g. the file it came from).
 */
export function validateLlamaConfig(config: LlamaConfig, op: string, where = ""): LlamaConfig {
  const fail = (detail: string) => invalid(op, `${where ? where + ": " : ""}${detail}`);
  for (const key of INTEGER_FIELDS) {
    const v = config[key];
    if (!Number.isSafeInteger(v) || v < 1) throw fail(`${key} must be a positive integer, not ${v}`);
  }
  const { dim, nHeads, nKvHeads } = config;
  if (dim % nHeads !== 0) throw fail(`dim ${dim} is not divisible by nHeads ${nHeads}`);
  if ((dim / nHeads) % 2 !== 0) throw fail(`head size ${dim / nHeads} is odd (RoPE rotates pairs)`);
  if (nKvHeads > nHeads || nHeads % nKvHeads !== 0) throw fail(`nKvHeads ${nKvHeads} does not divide nHeads ${nHeads}`);
  for (const key of ["ropeTheta", "normEps"] as const) {
    const v = config[key];
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw fail(`${key} must be a positive finite number, not ${v}`);
  }
  if (config.ropeStyle !== "interleaved" && config.ropeStyle !== "half") throw fail(`ropeStyle must be "interleaved" or "half", not ${JSON.stringify(config.ropeStyle)}`);
  if (typeof config.tiedEmbeddings !== "boolean") throw fail(`tiedEmbeddings must be a boolean`);
  const params = llamaParameterCount(config);
  if (!Number.isSafeInteger(params * 8)) throw fail(`the sizes give ${params} parameters, too many to address`);
  return config;
}

/** Number of parameters (weights) of a model of this shape. */
export function llamaParameterCount(c: LlamaConfig): number {
  const kvDim = (c.dim / c.nHeads) * c.nKvHeads;
  const perLayer = 2 * c.dim + 2 * c.dim * c.dim + 2 * kvDim * c.dim + 3 * c.hiddenDim * c.dim;
  return (c.tiedEmbeddings ? 1 : 2) * c.vocabSize * c.dim + c.nLayers * perLayer + c.dim;
}
