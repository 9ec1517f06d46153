/**
 * A Llama-architecture decoder on tao ops (RMSNorm, RoPE, grouped-query attention over a static KV
 * cache, SwiGLU MLP, tied or untied lm_head), laid out as Hugging Face's LlamaForCausalLM so parameter
 * names match its checkpoints ("model.layers.0.self_attn.q_proj.weight", ...): quantize(model, config,
 * { filter }) sees every projection as a Linear.
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
import { add, siluMul } from "../ops/elementwise.ts";
import { linear } from "../ops/linear.ts";
import { headDim, validateLlamaConfig, type LlamaConfig } from "./llama_config.ts";
import { llamaWeightShapes, type LlamaCheckpoint } from "./llama_weights.ts";

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

  /**
   * A model of `config` with synthetic weights (nothing to download): projections initialised like
   * torch.nn.Linear (uniform ±1/sqrt(in)), embeddings N(0, 1), norms 1; deterministic per seed.
   * `source` supplies real weights instead (Llama.fromCheckpoint); nothing is drawn for those.
   */
  constructor(config: LlamaConfig, init: LlamaInit = {}, source: WeightSource = () => undefined) {
    super();
    this.config = validateLlamaConfig({ ...config }, "Llama");
    const { dtype = "f32", device = "cpu", seed = 0 } = init;
    this.dtype = dtype;
    this.device = device;
    const c = this.config, hd = headDim(c);
    const proj = (name: string, inF: number, out: number, s: number) =>
      new Linear(inF, out, { bias: false, dtype, device, seed: s, weight: source(`${name}.weight`) });
    const norm = (name: string) => source(`${name}.weight`) ?? full([c.dim], 1, { dtype, device });
    const layers: Record<string, Module> = {};
    for (let l = 0; l < c.nLayers; l++) {
      const s = seed + 16 * (l + 1), p = `model.layers.${l}`;
      const attn = Holder.of({}, {
        q_proj: proj(`${p}.self_attn.q_proj`, c.dim, c.nHeads * hd, s), k_proj: proj(`${p}.self_attn.k_proj`, c.dim, c.nKvHeads * hd, s + 1),
        v_proj: proj(`${p}.self_attn.v_proj`, c.dim, c.nKvHeads * hd, s + 2), o_proj: proj(`${p}.self_attn.o_proj`, c.nHeads * hd, c.dim, s + 3),
      });
      const mlp = Holder.of({}, {
        gate_proj: proj(`${p}.mlp.gate_proj`, c.dim, c.hiddenDim, s + 4), up_proj: proj(`${p}.mlp.up_proj`, c.dim, c.hiddenDim, s + 5),
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
   * order (the loaders ensure it). A missing or misshapen weight is a TaoError.
   */
  static fromCheckpoint(ckpt: LlamaCheckpoint): Llama {
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
    const model = new Llama(config, { dtype: embed.dtype, device: embed.device }, (name) => ckpt.weights.get(name));
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

    const h = embedding(ids, p(model.getModule("embed_tokens"), "weight"), { out: ws.take("h", [B, T, c.dim], dt) });
    const xn = ws.take("xn", [B, T, c.dim], dt), q = ws.take("q", [B, T, c.nHeads * hd], dt);
    const k = ws.take("k", [B, T, c.nKvHeads * hd], dt), v = ws.take("v", [B, T, c.nKvHeads * hd], dt);
    const a = ws.take("a", [B, T, c.nHeads * hd], dt), o = ws.take("o", [B, T, c.dim], dt);
    const g = ws.take("g", [B, T, c.hiddenDim], dt), u = ws.take("u", [B, T, c.hiddenDim], dt);
    const q4 = q.reshape(B, T, c.nHeads, hd), k4 = k.reshape(B, T, c.nKvHeads, hd), v4 = v.reshape(B, T, c.nKvHeads, hd);
    const a4 = a.reshape(B, T, c.nHeads, hd);
    try {
      for (let l = 0; l < c.nLayers; l++) {
        const layer = layers.getModule(String(l)), attn = layer.getModule("self_attn"), mlp = layer.getModule("mlp");
        rmsNorm(h, p(layer.getModule("input_layernorm"), "weight"), { eps: c.normEps, out: xn });
        lin(attn, "q_proj", xn, q);
        lin(attn, "k_proj", xn, k);
        lin(attn, "v_proj", xn, v);
        rope(q4, { ...rot, out: q4 });
        rope(k4, { ...rot, out: k4 });
        kvAppend(k4, v4, cache.k[l]!, cache.v[l]!, { position: cache.position });
        attention(q4, cache.k[l]!, cache.v[l]!, { position: cache.position, out: a4 });
        lin(attn, "o_proj", a, o);
        add(h, o, { out: h });
        rmsNorm(h, p(layer.getModule("post_attention_layernorm"), "weight"), { eps: c.normEps, out: xn });
        lin(mlp, "gate_proj", xn, g);
        lin(mlp, "up_proj", xn, u);
        siluMul(g, u, { out: g });
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
      for (const t of [h, xn, q, k, v, a, o, g, u]) ws.release(t);
    }
  }
}
