/**
 * Hugging Face-style Llama checkpoints: a folder with config.json and model.safetensors (or shards
 * listed in model.safetensors.index.json), weights under transformers' LlamaForCausalLM names with
 * q_proj/k_proj rows in the "half" RoPE order (rotate_half). Import, export, and the llama2.c → HF
 * conversion.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, invalid, TaoError } from "../errors.ts";
import type { DType } from "../dtypes.ts";
import type { Tensor } from "../tensor.ts";
import { readSafetensors, writeSafetensors } from "../serialization/safetensors.ts";
import { readJsonObject } from "../serialization/files.ts";
import { headDim, validateLlamaConfig, type LlamaConfig } from "./llama_config.ts";
import { finishCheckpoint, type LlamaCheckpoint, type LlamaLoadOptions } from "./llama_weights.ts";
import { loadLlama2c } from "./llama2c.ts";

const TORCH_DTYPES: Partial<Record<DType, string>> = { f32: "float32", bf16: "bfloat16", f16: "float16" };

/** transformers' LlamaConfig JSON for `config` (torch_dtype from `dtype`). */
export function llamaConfigToHf(config: LlamaConfig, dtype: DType = "f32"): Record<string, unknown> {
  return {
    architectures: ["LlamaForCausalLM"],
    model_type: "llama",
    hidden_size: config.dim,
    intermediate_size: config.hiddenDim,
    num_hidden_layers: config.nLayers,
    num_attention_heads: config.nHeads,
    num_key_value_heads: config.nKvHeads,
    head_dim: headDim(config),
    vocab_size: config.vocabSize,
    max_position_embeddings: config.seqLen,
    rms_norm_eps: config.normEps,
    rope_theta: config.ropeTheta,
    rope_scaling: null,
    tie_word_embeddings: config.tiedEmbeddings,
    hidden_act: "silu",
    attention_bias: false,
    mlp_bias: false,
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: TORCH_DTYPES[dtype] ?? "float32",
  };
}

/**
 * A LlamaConfig (ropeStyle "half") from transformers' config.json contents, with transformers'
 * defaults for absent optional fields (num_key_value_heads = num_attention_heads, rms_norm_eps 1e-6,
 * rope_theta 10000, max_position_embeddings 2048, tie_word_embeddings false). What the Llama forward
 * here does not implement (rope_scaling, biases, an activation other than silu, a head_dim other than
 * hidden_size / num_attention_heads, another model_type) is a TaoError UNSUPPORTED.
 */
export function llamaConfigFromHf(json: unknown, op = "llamaConfigFromHf", where = ""): LlamaConfig {
  const at = where ? `${where}: ` : "";
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw invalid(op, `${at}config is not a JSON object`);
  const j = json as Record<string, unknown>;
  const num = (key: string, fallback?: number): number => {
    const v = j[key] ?? fallback;
    if (typeof v !== "number") throw invalid(op, `${at}${key} must be a number, not ${JSON.stringify(v)}`);
    return v;
  };
  const unsupported = (detail: string) => new TaoError(ErrorCode.UNSUPPORTED, op, `${at}${detail}`);
  if (j.model_type !== undefined && j.model_type !== "llama") throw unsupported(`model_type ${JSON.stringify(j.model_type)} is not "llama"`);
  if (j.rope_scaling != null) throw unsupported(`rope_scaling ${JSON.stringify(j.rope_scaling)} is not implemented`);
  if ((j.hidden_act ?? "silu") !== "silu") throw unsupported(`hidden_act ${JSON.stringify(j.hidden_act)} is not silu`);
  if (j.attention_bias === true || j.mlp_bias === true) throw unsupported("attention/MLP biases are not implemented");
  const nHeads = num("num_attention_heads");
  const config: LlamaConfig = validateLlamaConfig({
    dim: num("hidden_size"), hiddenDim: num("intermediate_size"), nLayers: num("num_hidden_layers"), nHeads,
    nKvHeads: num("num_key_value_heads", nHeads), vocabSize: num("vocab_size"), seqLen: num("max_position_embeddings", 2048),
    ropeTheta: num("rope_theta", 10000), normEps: num("rms_norm_eps", 1e-6),
    tiedEmbeddings: (j.tie_word_embeddings ?? false) === true, ropeStyle: "half",
  }, op, where);
  if (j.head_dim != null && j.head_dim !== headDim(config)) throw unsupported(`head_dim ${j.head_dim} is not hidden_size / num_attention_heads = ${headDim(config)}`);
  return config;
}

/** The safetensors files of a checkpoint folder: model.safetensors, or the shards of its index. */
function weightFiles(dir: string, op: string): string[] {
  const single = join(dir, "model.safetensors");
  if (existsSync(single)) return [single];
  const indexPath = join(dir, "model.safetensors.index.json");
  if (!existsSync(indexPath)) throw invalid(op, `${dir}: neither model.safetensors nor model.safetensors.index.json is there`);
  const map = readJsonObject(indexPath, op).weight_map;
  if (typeof map !== "object" || map === null) throw invalid(op, `${indexPath}: no weight_map object`);
  const files = [...new Set(Object.values(map))];
  const bad = files.find((f) => typeof f !== "string" || f.includes("/") || f.includes("\\"));
  if (bad !== undefined) throw invalid(op, `${indexPath}: shard ${JSON.stringify(bad)} is not a file name in the folder`);
  return (files as string[]).map((f) => join(dir, f));
}

/**
 * Loads a Hugging Face-style Llama folder (config.json + safetensors) into a LlamaCheckpoint,
 * converted as `opts` says (default: the file's dtype, on the CPU, q/k rows in the file's "half"
 * order; ropeStyle "interleaved" permutes them back to llama2.c's order). RoPE inv_freq buffers are
 * ignored, and so is lm_head.weight of a tied model; a missing, extra or misshapen weight is a TaoError.
 */
export function loadHfLlama(dir: string, opts: LlamaLoadOptions = {}): LlamaCheckpoint {
  const op = "loadHfLlama";
  const configPath = join(dir, "config.json");
  const config = llamaConfigFromHf(readJsonObject(configPath, op), op, configPath);
  const raw = new Map<string, Tensor>();
  try {
    for (const file of weightFiles(dir, op)) {
      for (const [name, t] of readSafetensors(file).tensors) {
        const ignored = name.endsWith(".rotary_emb.inv_freq") || (config.tiedEmbeddings && name === "lm_head.weight");
        if (ignored) t.dispose();
        else raw.set(name, t);
      }
    }
  } catch (e) {
    for (const t of raw.values()) t.dispose();
    throw e;
  }
  return finishCheckpoint(config, raw, opts, op);
}

/**
 * Writes `ckpt` as a Hugging Face-style Llama folder `dir` (created if needed): config.json and
 * model.safetensors with q/k rows in the "half" order (permuted when the checkpoint is interleaved),
 * weights in `opts.dtype` (default: as they are). transformers' LlamaForCausalLM loads the result.
 */
export function saveHfLlama(ckpt: LlamaCheckpoint, dir: string, opts: { dtype?: DType } = {}): void {
  const op = "saveHfLlama";
  const dtype = opts.dtype ?? ckpt.weights.get("model.embed_tokens.weight")?.dtype ?? "f32";
  using half = finishCheckpoint(ckpt.config, new Map([...ckpt.weights].map(([k, t]) => [k, t.clone()])), { dtype, ropeStyle: "half" }, op);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "config.json"), JSON.stringify(llamaConfigToHf(half.config, dtype), null, 2) + "\n");
  } catch (e) {
    throw invalid(op, `${dir}: cannot write: ${(e as Error).message}`);
  }
  writeSafetensors(join(dir, "model.safetensors"), half.weights, { format: "pt" });
}

/** Converts a llama2.c checkpoint file into a Hugging Face-style folder (see saveHfLlama); returns its config. */
export function convertLlama2cToHf(binPath: string, dir: string, opts: { dtype?: DType } = {}): LlamaConfig {
  using ckpt = loadLlama2c(binPath);
  saveHfLlama(ckpt, dir, opts);
  return ckpt.config;
}
