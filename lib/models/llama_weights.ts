/**
 * A Llama checkpoint in memory: its config and its weights under Hugging Face names, the list of
 * those names and shapes for a config, the conversions every loader ends with (RoPE row order,
 * dtype, device), and the row-concatenation that fuses projections.
 */
import { invalid } from "../errors.ts";
import { DTYPES, isFloat, type DType } from "../dtypes.ts";
import { CopyKind } from "../context.ts";
import { produce, type Tensor } from "../tensor.ts";
import { headDim, type LlamaConfig, type RopeStyle } from "./llama_config.ts";

/** A loaded model: config plus weights by Hugging Face name (see llamaWeightShapes). Owns its tensors. */
export interface LlamaCheckpoint extends Disposable {
  config: LlamaConfig;
  weights: Map<string, Tensor>;
  /** Disposes every weight (idempotent). */
  dispose(): void;
}

/** What a loader produces: dtype and device of the weights, and the q/k row order wanted. */
export interface LlamaLoadOptions {
  /** Weight dtype (a float dtype; default: the file's own, f32 for llama2.c files). */
  dtype?: DType;
  /** Default "cpu". */
  device?: string;
  /** Row order of q_proj/k_proj (default: the file's own: "interleaved" for llama2.c, "half" for HF). */
  ropeStyle?: RopeStyle;
}

/** A LlamaCheckpoint owning `weights`. */
export function llamaCheckpoint(config: LlamaConfig, weights: Map<string, Tensor>): LlamaCheckpoint {
  const dispose = () => {
    for (const t of weights.values()) t.dispose();
  };
  return { config, weights, dispose, [Symbol.dispose]: dispose };
}

/**
 * Every weight of a model of this config, Hugging Face name -> shape, in llama2.c's order of kinds:
 * model.embed_tokens.weight [vocab, dim]; per layer i, model.layers.{i}.input_layernorm.weight [dim],
 * self_attn.{q,k,v,o}_proj.weight ([nHeads·hd, dim], [nKv·hd, dim] twice, [dim, nHeads·hd]),
 * post_attention_layernorm.weight [dim], mlp.{gate,up}_proj.weight [hidden, dim],
 * mlp.down_proj.weight [dim, hidden]; model.norm.weight [dim]; lm_head.weight [vocab, dim] when untied.
 */
export function llamaWeightShapes(c: LlamaConfig): Map<string, number[]> {
  const hd = headDim(c), qDim = c.nHeads * hd, kvDim = c.nKvHeads * hd;
  const shapes = new Map<string, number[]>([["model.embed_tokens.weight", [c.vocabSize, c.dim]]]);
  for (let i = 0; i < c.nLayers; i++) {
    const p = `model.layers.${i}.`;
    shapes.set(`${p}input_layernorm.weight`, [c.dim]);
    shapes.set(`${p}self_attn.q_proj.weight`, [qDim, c.dim]);
    shapes.set(`${p}self_attn.k_proj.weight`, [kvDim, c.dim]);
    shapes.set(`${p}self_attn.v_proj.weight`, [kvDim, c.dim]);
    shapes.set(`${p}self_attn.o_proj.weight`, [c.dim, qDim]);
    shapes.set(`${p}post_attention_layernorm.weight`, [c.dim]);
    shapes.set(`${p}mlp.gate_proj.weight`, [c.hiddenDim, c.dim]);
    shapes.set(`${p}mlp.up_proj.weight`, [c.hiddenDim, c.dim]);
    shapes.set(`${p}mlp.down_proj.weight`, [c.dim, c.hiddenDim]);
  }
  shapes.set("model.norm.weight", [c.dim]);
  if (!c.tiedEmbeddings) shapes.set("lm_head.weight", [c.vocabSize, c.dim]);
  return shapes;
}

/** The number of heads whose rows `name` holds when it is a q_proj or k_proj weight, else null. */
function ropeHeads(name: string, c: LlamaConfig): number | null {
  if (name.endsWith(".self_attn.q_proj.weight")) return c.nHeads;
  if (name.endsWith(".self_attn.k_proj.weight")) return c.nKvHeads;
  return null;
}

/**
 * q/k projection rows [nHeads·hd, dim] reordered from one RoPE row order to the other (a new tensor
 * on w's device; `w` itself when the orders are equal). Within a head, interleaved row 2i + j
 * (j = 0, 1) is half row j·hd/2 + i. interleaved → half is HF's `permute` in
 * convert_llama_weights_to_hf.py: w.view(nHeads, hd/2, 2, dim).transpose(1, 2); half → interleaved
 * is its inverse, llama2.c export.py's `permute_reverse`: w.view(nHeads, 2, hd/2, dim).transpose(1, 2).
 */
export function permuteRope(w: Tensor, nHeads: number, from: RopeStyle, to: RopeStyle): Tensor {
  if (from === to) return w;
  const [rows, cols] = w.shape as [number, number];
  if (w.ndim !== 2 || rows % (2 * nHeads) !== 0) throw invalid("permuteRope", `[${w.shape}] is not nHeads = ${nHeads} heads of pairs of rows`);
  const half = rows / nHeads / 2;
  const split = from === "interleaved" ? [nHeads, half, 2, cols] : [nHeads, 2, half, cols];
  return w.reshape(...split).transpose(1, 2).reshape(rows, cols);
}

/**
 * Finishes a loader's work on weights read from a file (host tensors in the file's dtype and RoPE
 * order `fileConfig.ropeStyle`): q/k rows reordered to opts.ropeStyle, cast to opts.dtype, moved to
 * opts.device. Consumes `raw`: each of its tensors ends up in the checkpoint or disposed, on success
 * and on failure. Every name and shape of llamaWeightShapes must be present and nothing else.
 */
export function finishCheckpoint(fileConfig: LlamaConfig, raw: Map<string, Tensor>, opts: LlamaLoadOptions, op: string): LlamaCheckpoint {
  const out = llamaCheckpoint({ ...fileConfig, ropeStyle: opts.ropeStyle ?? fileConfig.ropeStyle }, new Map());
  try {
    const { config } = out;
    if (config.ropeStyle !== "interleaved" && config.ropeStyle !== "half") throw invalid(op, `ropeStyle must be "interleaved" or "half", not ${JSON.stringify(config.ropeStyle)}`);
    if (opts.dtype !== undefined && !(DTYPES.includes(opts.dtype) && isFloat(opts.dtype))) throw invalid(op, `dtype must be a float dtype, not ${JSON.stringify(opts.dtype)}`);
    const shapes = llamaWeightShapes(config);
    for (const name of raw.keys()) if (!shapes.has(name)) throw invalid(op, `unexpected weight ${name}`);
    for (const [name, shape] of shapes) {
      const t = raw.get(name);
      if (t === undefined) throw invalid(op, `missing weight ${name}`);
      if (t.shape.join() !== shape.join()) throw invalid(op, `${name} is [${t.shape}], the config says [${shape}]`);
      out.weights.set(name, convert(t, ropeHeads(name, config), fileConfig.ropeStyle, config.ropeStyle, opts));
    }
  } catch (e) {
    out.dispose();
    for (const t of raw.values()) t.dispose();
    throw e;
  }
  return out;
}

/** One weight through cast → RoPE order → device; each replaced tensor (`t` included) is disposed. */
function convert(t: Tensor, heads: number | null, from: RopeStyle, to: RopeStyle, opts: LlamaLoadOptions): Tensor {
  let cur = t;
  const step = (next: Tensor) => {
    if (next !== cur) cur.dispose();
    cur = next;
  };
  if (opts.dtype !== undefined) step(cur.dtype === opts.dtype ? cur : cur.cast(opts.dtype));
  if (heads !== null) step(permuteRope(cur, heads, from, to));
  step(cur.to(opts.device ?? "cpu"));
  return cur;
}

/**
 * The row-concatenation [parts[0]; parts[1]; …] of 2-D tensors [n_i, K] of one dtype and device, as a
 * new tensor (device copies): the weight of a fused projection such as q|k|v.
 */
export function concatRows(parts: readonly Tensor[], op = "concatRows"): Tensor {
  const first = parts[0];
  if (first === undefined) throw invalid(op, "no tensors to concatenate");
  const k = first.shape[1];
  for (const t of parts) {
    if (t.ndim !== 2 || t.shape[1] !== k || t.dtype !== first.dtype || t.device !== first.device) {
      throw invalid(op, `cannot stack ${t.dtype} [${t.shape}] on ${t.device} under ${first.dtype} [${first.shape}] on ${first.device}`);
    }
  }
  return produce(first.dtype, [parts.reduce((n, t) => n + t.shape[0]!, 0), k!], first.device, op, (out) => {
    let at = 0;
    for (const t of parts) {
      if (t.numel > 0) out.context.copy(out.ptr(op, at), t.ptr(op), t.nbytes, CopyKind.D2D);
      at += t.numel;
    }
  });
}
