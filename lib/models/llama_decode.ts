/**
 * Token-by-token decoding of a Llama: one step = forward of each sequence's last token, then the next
 * token chosen on the device (argmax, or temperature / top-k sampling) into the same int32 buffer the
 * step reads. Every buffer of the step is allocated once, so on CUDA the whole step is captured as one
 * graph and replayed per token (no host work between steps); on the CPU it runs eagerly.
 */
import { invalid } from "../errors.ts";
import type { DType } from "../dtypes.ts";
import { zeros } from "../creation.ts";
import type { Tensor } from "../tensor.ts";
import { captureGraph, type Graph } from "../graph.ts";
import { argmax, sample } from "../ops/sampling.ts";
import type { Llama, LlamaCache, Workspace } from "./llama.ts";

/** How the next token is chosen: greedy (default, temperature 0) or sampled from the top-k. */
export interface DecodeSampling {
  /** <= 0 (default): argmax. */
  temperature?: number;
  /** Sample among the k most likely tokens (0 = all). */
  topK?: number;
  /** Philox seed of the sampling noise (the stream advances with the position). */
  seed?: number;
}

/** Named buffers kept for the decoder's lifetime (fixed addresses, as graph replay needs). */
class PersistentWorkspace implements Workspace, Disposable {
  readonly #buffers = new Map<string, Tensor>();
  constructor(readonly device: string) {}
  take(name: string, shape: number[], dtype: DType): Tensor {
    const have = this.#buffers.get(name);
    if (have !== undefined && have.dtype === dtype && have.shape.join() === shape.join()) return have;
    have?.dispose();
    const t = zeros(shape, { dtype, device: this.device });
    this.#buffers.set(name, t);
    return t;
  }
  release(): void {}
  dispose(): void {
    for (const t of this.#buffers.values()) t.dispose();
    this.#buffers.clear();
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/**
 * Decodes with `model` over `cache` (batch B): `tokens` (int32 [B, 1] on the model's device) holds
 * each sequence's latest token; step() runs it through the model at cache.position and overwrites it
 * with the next one. Build it after the prompt's prefill, with tokens set to the prompt's next token.
 */
export class LlamaDecoder implements Disposable {
  readonly tokens: Tensor;
  readonly logits: Tensor;
  readonly #ws: PersistentWorkspace;
  #graph: Graph | null = null;

  constructor(readonly model: Llama, readonly cache: LlamaCache, readonly sampling: DecodeSampling = {}, opts: { graph?: boolean } = {}) {
    const B = cache.batch;
    this.#ws = new PersistentWorkspace(model.device);
    this.tokens = zeros([B, 1], { dtype: "i32", device: model.device });
    this.logits = zeros([B, model.config.vocabSize], { dtype: model.dtype, device: model.device });
    const useGraph = opts.graph ?? model.device.startsWith("cuda");
    if (useGraph) {
      // One eager step allocates the workspace (captured steps must not allocate what outlives them);
      // tokens and position are restored after it, and the cache row it wrote is rewritten by step 1.
      try {
        using tokens = this.tokens.clone(), position = cache.position.clone();
        this.#eager();
        this.tokens.copyFrom(tokens);
        cache.position.copyFrom(position);
        this.#graph = captureGraph(this.tokens.context, () => this.#eager());
      } catch (e) {
        this.dispose();
        throw e;
      }
    }
  }

  #eager(): void {
    this.model.forward(this.tokens, this.cache, { workspace: this.#ws, out: this.logits });
    const { temperature = 0, topK = 0, seed = 0 } = this.sampling;
    const next = this.tokens.reshape(this.cache.batch);
    if (temperature > 0) sample(this.logits, { temperature, topK, seed, position: this.cache.position, out: next });
    else argmax(this.logits, { out: next });
  }

  /**
   * One token for every sequence: tokens ← next(tokens), the cache one position further. Asynchronous
   * on CUDA (read `tokens` to wait). The caller keeps the position within the cache's capacity.
   */
  step(): void {
    if (this.#graph) this.#graph.launch();
    else this.#eager();
  }

  /**
   * step(), then the new tokens on the host (int32 [B]; waits for the step): generate()'s per-token
   * loop, which bench/llama_timing.ts times for the GPU's idle time between steps.
   */
  next(): Int32Array {
    this.step();
    return this.tokens.toArray() as Int32Array;
  }

  dispose(): void {
    this.#graph?.dispose();
    this.#ws.dispose();
    this.tokens.dispose();
    this.logits.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Checks that `n` more tokens fit `cache` after `position` tokens. */
export function checkRoom(cache: LlamaCache, position: number, n: number, op: string): void {
  if (position + n > cache.capacity) throw invalid(op, `${position} + ${n} tokens exceed the cache's capacity ${cache.capacity}`);
}
