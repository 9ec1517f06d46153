/**
 * A Llama-architecture decoder on tao ops (RMSNorm, RoPE, grouped-query attention over a static KV
 * cache, SwiGLU MLP, tied or untied lm_head), laid out as Hugging Face's LlamaForCausalLM so parameter
 * names match its checkpoints ("model.layers.0.self_attn.o_proj.weight", ...): quantize(model, config,
 * { filter }) sees every projection as a Linear.
 *
 * By default (LlamaInit.fuse) q/k/v are one Linear "self_attn.qkv_proj" with weight [Wq; Wk; Wv] and
 * gate/up one Linear "mlp.gate_up_proj" with weight [Wgate; Wup] (gpt-fast's wqkv and w13): a decode
 * step runs two large GEMVs instead of five smaller ones, and RoPE, the KV-cache append, attention and
 * SwiGLU read their parts of the fused outputs in place. Every quantization scheme sees the fused Linear
 * as one layer; per-output-row schemes (weight-only int8/int4 with groups along K, float8 per row, 2:4
 * sparsity, GPTQ) give the same rows fused or not, per-tensor scales and SmoothQuant's per-channel
 * factors span all parts. With fuse: false the projections are the checkpoint's seven Linears.
 *
 * One forward serves prefill and decode: the tokens of a call sit at positions cache.position[0] + t
 * (an int32 buffer on the device, read when the kernels run), and the call advances it. A decode step
 * therefore captures once as a CUDA graph and replays for every token (lib/models/llama_decode.ts).
 */
import { invalid } from "../errors.ts";
import type { DType } from "../dtypes.ts";
import { full, randn, zeros } from "../creation.ts";
import type { Tensor } from "../tensor.ts";
import { Linear, Module } from "../nn/index.ts";
import { embedding } from "../ops/embedding.ts";
import { rmsNorm } from "../ops/rms_norm.ts";
import { rope } from "../ops/rope.ts";
import { attention } from "../ops/attention.ts";
import { incrementPosition, kvAppend } from "../ops/kv_cache.ts";
import { add, siluMul, swiglu } from "../ops/elementwise.ts";
import { linear } from "../ops/linear.ts";
import { headDim, validateLlamaConfig, type LlamaConfig } from "./llama_config.ts";
import { concatRows, llamaWeightShapes, type LlamaCheckpoint } from "./llama_weights.ts";

/**
 * Where a forward puts its intermediate tensors: `take(name, shape, dtype)` gives a buffer the
 * forward may write; `release(t)` is called when the forward is done with a buffer it took. The default
 * allocates and disposes; the decode step's workspace keeps named buffers across steps (graph replay
 * needs fixed addresses).
 */
export interface Workspace {
  take(name: string, shape: number[], dtype: DType): Tensor;
  release(t: Tensor): void;
}

/** Fresh tensors per forward, disposed as soon as the forward is done with them. */
export function scratchWorkspace(device: string): Workspace {
  return { take: (_, shape, dtype) => zeros(shape, { dtype, device }), release: (t) => t.dispose() };
}

/** A module that only holds parameters and children (its owner runs the computation). */
class Holder extends Module {
  forward(): never {
    throw invalid("Llama", "this part of the model has no forward of its own");
  }
  static of(params: Record<string, Tensor>, children: Record<string, Module> = {}): Holder {
    const h = new Holder();
    for (const [name, t] of Object.entries(params)) h.registerParameter(name, t);
    for (const [name, m] of Object.entries(children)) h.registerModule(name, m);
    return h;
  }
}

/** What synthetic weights are made of: dtype, device and the Philox seed (layer l uses seed + 16·l + j). */
export interface LlamaInit {
  dtype?: DType;
  device?: string;
  seed?: number;
  /**
   * q/k/v as one Linear self_attn.qkv_proj and gate/up as one mlp.gate_up_proj, each weight the
   * row-concatenation of its parts' (default true; see the file comment). The parts' values are those
   * of the unfused model (same seeds, or the same checkpoint tensors).
   */
  fuse?: boolean;
}

/** The KV cache of one batch of sequences: per layer k and v [batch, capacity, nKvHeads, headDim]. */
export class LlamaCache implements Disposable {
  readonly k: Tensor[] = [];
  readonly v: Tensor[] = [];
  /** int32 [1] on the model's device: the position of the next token (the tokens cached so far). */
  readonly position: Tensor;

  constructor(readonly config: LlamaConfig, readonly batch: number, readonly capacity: number, dtype: DType, readonly device: string) {
    if (!Number.isSafeInteger(batch) || batch < 1) throw invalid("LlamaCache", `batch must be a positive integer, not ${batch}`);
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw invalid("LlamaCache", `capacity must be a positive integer, not ${capacity}`);
    const shape = [batch, capacity, config.nKvHeads, headDim(config)];
    try {
      for (let l = 0; l < config.nLayers; l++) {
        this.k.push(zeros(shape, { dtype, device }));
        this.v.push(zeros(shape, { dtype, device }));
      }
      this.position = zeros([1], { dtype: "i32", device });
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** Bytes of the cached keys and values. */
  get bytes(): number {
    return this.k.reduce((s, t) => s + 2 * t.nbytes, 0);
  }

  /** Forgets the cached tokens (the next forward starts at position 0). */
  reset(): void {
    this.position.context.memset(this.position.ptr("LlamaCache.reset"), 0, this.position.nbytes);
  }

  dispose(): void {
    for (const t of [...this.k, ...this.v]) t.dispose();
    (this.position as Tensor | undefined)?.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Options of one forward. */
export interface LlamaForwardOptions {
  /** "last" (default): logits [B, V] of each sequence's last token; "all": [B, T, V]. */
  logits?: "last" | "all";
  /** Intermediate buffers (default: fresh tensors, disposed before returning). */
  workspace?: Workspace;
  /** Where the logits go (default: a new tensor). */
  out?: Tensor;
}

/** Parameter `name` (a Hugging Face name) for the constructor to take over, or undefined for the synthetic value. */
type WeightSource = (name: string) => Tensor | undefined;

/** LlamaForCausalLM: children "model" (embed_tokens, layers.{i}, norm) and "lm_head". */
export class Llama extends Module {
  readonly config: LlamaConfig;
  readonly dtype: DType;
  readonly device: string;
  /** Whether q/k/v and gate/up are fused Linears (LlamaInit.fuse). */
  readonly fused: boolean;

  /**
   * A model of `config` with synthetic weights (nothing to download): projections initialised like
   * torch.nn.Linear (uniform ±1/sqrt(in)), embeddings N(0, 1), norms 1; deterministic per seed.
   * `source` supplies real weights instead (Llama.fromCheckpoint); nothing is drawn for those.
   */
  constructor(config: LlamaConfig, init: LlamaInit = {}, source: WeightSource = () => undefined) {
    super();
    this.config = validateLlamaConfig({ ...config }, "Llama");
    const { dtype = "f32", device = "cpu", seed = 0, fuse = true } = init;
    this.dtype = dtype;
    this.device = device;
    this.fused = fuse;
    const c = this.config, hd = headDim(c);
    const proj = (name: string, inF: number, out: number, s: number) =>
      new Linear(inF, out, { bias: false, dtype, device, seed: s, weight: source(`${name}.weight`) });
    // The projections reading one input: one Linear each, or one fused Linear named `fused` whose weight
    // stacks theirs (each given or drawn as its own Linear would be, then disposed).
    const group = (p: string, fused: string, inF: number, parts: [string, number, number][]): Record<string, Linear> => {
      if (!fuse) return Object.fromEntries(parts.map(([name, out, s]) => [name, proj(`${p}.${name}`, inF, out, s)]));
      const weights: Tensor[] = [];
      try {
        for (const [name, out, s] of parts) weights.push(proj(`${p}.${name}`, inF, out, s).weight as Tensor);
        const w = concatRows(weights, "Llama");
        return { [fused]: new Linear(inF, w.shape[0]!, { bias: false, weight: w }) };
      } finally {
        for (const w of weights) w.dispose();
      }
    };
    const norm = (name: string) => source(`${name}.weight`) ?? full([c.dim], 1, { dtype, device });
    const layers: Record<string, Module> = {};
    for (let l = 0; l < c.nLayers; l++) {
      const s = seed + 16 * (l + 1), p = `model.layers.${l}`;
      const attn = Holder.of({}, {
        ...group(`${p}.self_attn`, "qkv_proj", c.dim, [
          ["q_proj", c.nHeads * hd, s], ["k_proj", c.nKvHeads * hd, s + 1], ["v_proj", c.nKvHeads * hd, s + 2],
        ]),
        o_proj: proj(`${p}.self_attn.o_proj`, c.nHeads * hd, c.dim, s + 3),
      });
      const mlp = Holder.of({}, {
        ...group(`${p}.mlp`, "gate_up_proj", c.dim, [["gate_proj", c.hiddenDim, s + 4], ["up_proj", c.hiddenDim, s + 5]]),
        down_proj: proj(`${p}.mlp.down_proj`, c.hiddenDim, c.dim, s + 6),
      });
      layers[String(l)] = Holder.of({}, {
        input_layernorm: Holder.of({ weight: norm(`${p}.input_layernorm`) }), self_attn: attn,
        post_attention_layernorm: Holder.of({ weight: norm(`${p}.post_attention_layernorm`) }), mlp,
      });
    }
    const embed = source("model.embed_tokens.weight") ?? randn([c.vocabSize, c.dim], { dtype, device, seed });
    this.registerModule("model", Holder.of({}, { embed_tokens: Holder.of({ weight: embed }), layers: Holder.of({}, layers), norm: Holder.of({ weight: norm("model.norm") }) }));
    // A tied lm_head gets its own copy of the embedding, so quantizing it leaves the embedding as it is.
    const head = c.tiedEmbeddings ? embed.clone() : source("lm_head.weight");
    this.registerModule("lm_head", new Linear(c.dim, c.vocabSize, { bias: false, dtype, device, seed: seed + 1, weight: head }));
  }

  /**
   * The model of a loaded checkpoint, taking its tensors over (they leave ckpt.weights; what the model
   * does not use stays there for the checkpoint's dispose). Its q/k rows must be in config.ropeStyle's
   * order (the loaders ensure it). A missing or misshapen weight is a TaoError. With `fuse` (default
   * true) the q/k/v and gate/up weights are concatenated into qkv_proj and gate_up_proj at load (the
   * parts are disposed), so the model's state dict, and what save() writes, has those names; a
   * checkpoint saved from a fused model loads (loadInto) into a fused one, an unfused into fuse: false.
   */
  static fromCheckpoint(ckpt: LlamaCheckpoint, opts: { fuse?: boolean } = {}): Llama {
    const op = "Llama.fromCheckpoint";
    const config = validateLlamaConfig({ ...ckpt.config }, op);
    const embed = ckpt.weights.get("model.embed_tokens.weight");
    if (embed === undefined) throw invalid(op, "the checkpoint lacks model.embed_tokens.weight");
    // Every weight checked before any is taken, so a bad checkpoint leaves ckpt as it was.
    const shapes = llamaWeightShapes(config);
    for (const [name, shape] of shapes) {
      const t = ckpt.weights.get(name);
      if (t === undefined) throw invalid(op, `the checkpoint lacks ${name}`);
      if (t.shape.join() !== shape.join() || t.dtype !== embed.dtype || t.device !== embed.device) {
        throw invalid(op, `${name} is ${t.dtype} [${t.shape}] on ${t.device}, the model needs ${embed.dtype} [${shape}] on ${embed.device}`);
      }
    }
    const model = new Llama(config, { dtype: embed.dtype, device: embed.device, fuse: opts.fuse }, (name) => ckpt.weights.get(name));
    for (const name of shapes.keys()) ckpt.weights.delete(name);
    return model;
  }

  /** A KV cache for `batch` sequences of up to `capacity` tokens, on the model's device and dtype. */
  newCache(batch: number, capacity: number): LlamaCache {
    return new LlamaCache(this.config, batch, capacity, this.dtype, this.device);
  }

  /**
   * Logits for ids (int32 [B, T] on the model's device) appended to `cache` at its position, which
   * then advances by T. The caller keeps position + T within the cache's capacity.
   */
  forward(ids: Tensor, cache: LlamaCache, opts: LlamaForwardOptions = {}): Tensor {
    const op = "Llama.forward";
    if (ids.dtype !== "i32" || ids.ndim !== 2) throw invalid(op, `ids must be int32 [batch, tokens], not ${ids.dtype} [${ids.shape}]`);
    const [B, T] = ids.shape as [number, number];
    if (B !== cache.batch) throw invalid(op, `ids have batch ${B}, the cache ${cache.batch}`);
    if (T > cache.capacity) throw invalid(op, `${T} tokens exceed the cache's capacity ${cache.capacity}`);
    const c = this.config, hd = headDim(c), dt = this.dtype, ws = opts.workspace ?? scratchWorkspace(this.device);
    const model = this.getModule("model"), layers = model.getModule("layers");
    const p = (m: Module, name: string) => m.getParameter(name) as Tensor;
    const lin = (m: Module, name: string, x: Tensor, out?: Tensor) => {
      const layer = m.getModule(name) as Linear;
      layer.inputObserver?.observe(x); // calibration (SmoothQuant, Wanda) sees every Linear's input
      return linear(x, layer.weight, null, { out });
    };
    const rot = { theta: c.ropeTheta, style: c.ropeStyle, position: cache.position } as const;

    const taken: Tensor[] = [];
    const take = (name: string, shape: number[]) => {
      taken.push(ws.take(name, shape, dt));
      return taken.at(-1)!;
    };
    try {
      const h = embedding(ids, p(model.getModule("embed_tokens"), "weight"), { out: take("h", [B, T, c.dim]) });
      const { nHeads: hq, nKvHeads: hkv } = c;
      const xn = take("xn", [B, T, c.dim]), a = take("a", [B, T, hq * hd]), o = take("o", [B, T, c.dim]);
      const g = take("g", [B, T, c.hiddenDim]), a4 = a.reshape(B, T, hq, hd);
      // Per layer, xn → q4, k4, v4 [B, T, heads, hd] after RoPE (k's and v's heads from kHead, vHead)
      // and xn → g = silu(gate)·up. Fused: the q|k|v output [B, T, Hq + 2·Hkv, hd] is q4, k4 and v4 at
      // once (its heads read in place), the gate|up output [B, T, 2·hidden] feeds swiglu.
      let q4: Tensor, k4: Tensor, v4: Tensor, kvHeads: { kHead?: number; vHead?: number }, project: (attn: Module) => void;
      let gateUp: (mlp: Module) => void;
      if (this.fused) {
        const qkv = take("qkv", [B, T, (hq + 2 * hkv) * hd]), gu = take("gu", [B, T, 2 * c.hiddenDim]);
        q4 = k4 = v4 = qkv.reshape(B, T, hq + 2 * hkv, hd);
        kvHeads = { kHead: hq, vHead: hq + hkv };
        project = (attn) => {
          lin(attn, "qkv_proj", xn, qkv);
          rope(q4, { ...rot, heads: hq + hkv, out: q4 });
        };
        gateUp = (mlp) => swiglu(lin(mlp, "gate_up_proj", xn, gu), { out: g });
      } else {
        const q = take("q", [B, T, hq * hd]), k = take("k", [B, T, hkv * hd]), v = take("v", [B, T, hkv * hd]);
        const u = take("u", [B, T, c.hiddenDim]);
        [q4, k4, v4] = [q.reshape(B, T, hq, hd), k.reshape(B, T, hkv, hd), v.reshape(B, T, hkv, hd)];
        kvHeads = {};
        project = (attn) => {
          for (const [name, out] of [["q_proj", q], ["k_proj", k], ["v_proj", v]] as const) lin(attn, name, xn, out);
          rope(q4, { ...rot, out: q4 });
          rope(k4, { ...rot, out: k4 });
        };
        gateUp = (mlp) => siluMul(lin(mlp, "gate_proj", xn, g), lin(mlp, "up_proj", xn, u), { out: g });
      }
      for (let l = 0; l < c.nLayers; l++) {
        const layer = layers.getModule(String(l)), attn = layer.getModule("self_attn"), mlp = layer.getModule("mlp");
        rmsNorm(h, p(layer.getModule("input_layernorm"), "weight"), { eps: c.normEps, out: xn });
        project(attn);
        kvAppend(k4, v4, cache.k[l]!, cache.v[l]!, { position: cache.position, ...kvHeads });
        attention(q4, cache.k[l]!, cache.v[l]!, { position: cache.position, heads: hq, out: a4 });
        lin(attn, "o_proj", a, o);
        add(h, o, { out: h });
        rmsNorm(h, p(layer.getModule("post_attention_layernorm"), "weight"), { eps: c.normEps, out: xn });
        gateUp(mlp);
        lin(mlp, "down_proj", g, o);
        add(h, o, { out: h });
      }
      incrementPosition(cache.position, T);
      const norm = p(model.getModule("norm"), "weight");
      if (opts.logits === "all") return lin(this, "lm_head", rmsNorm(h, norm, { eps: c.normEps, out: xn }), opts.out);
      if (T === 1) return lin(this, "lm_head", rmsNorm(h, norm, { eps: c.normEps, out: xn }).reshape(B, c.dim), opts.out);
      using last = h.slice(1, T - 1, T);
      using lastNorm = rmsNorm(last, norm, { eps: c.normEps });
      return lin(this, "lm_head", lastNorm.reshape(B, c.dim), opts.out);
    } finally {
      for (const t of taken) ws.release(t);
    }
  }
}
