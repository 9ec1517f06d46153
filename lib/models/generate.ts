/**
 * Text generation with a Llama and a tokenizer: the prompt (with BOS) is prefilled in one forward,
 * then tokens come one decode step at a time (a replayed CUDA graph on the GPU), streamed as text.
 */
import { invalid } from "../errors.ts";
import { fromArray } from "../creation.ts";
import { argmax, sample } from "../ops/sampling.ts";
import type { TextTokenizer } from "../tokenizer/tokenizer.ts";
import type { Llama } from "./llama.ts";
import { LlamaDecoder, type DecodeSampling } from "./llama_decode.ts";

export interface GenerateOptions extends DecodeSampling {
  /** Tokens to generate at most (default 128); generation also stops at the tokenizer's EOS. */
  maxTokens?: number;
  /** Capture the decode step as a CUDA graph (default: on CUDA devices). */
  graph?: boolean;
}

/** One generated token: its id and the text it completes (may be "" inside a multi-byte character). */
export interface GeneratedToken {
  id: number;
  text: string;
}

/**
 * Streams the continuation of `prompt`: yields each new token with its text. Greedy unless
 * `temperature` > 0 (then top-k sampling with `seed`; the same seed gives the same tokens on CPU and
 * CUDA for the same logits). The prompt plus maxTokens must fit the model's seqLen.
 */
export function* generate(model: Llama, tokenizer: TextTokenizer, prompt: string, opts: GenerateOptions = {}): Generator<GeneratedToken> {
  const op = "generate";
  const { maxTokens = 128, temperature = 0, topK = 0, seed = 0 } = opts;
  if (!Number.isSafeInteger(maxTokens) || maxTokens < 1) throw invalid(op, `maxTokens must be a positive integer, not ${maxTokens}`);
  const ids = tokenizer.encode(prompt, { bos: true });
  const capacity = ids.length + maxTokens;
  if (capacity > model.config.seqLen) throw invalid(op, `${ids.length} prompt tokens + ${maxTokens} exceed the model's ${model.config.seqLen} positions`);
  using cache = model.newCache(1, capacity);
  using decoder = new LlamaDecoder(model, cache, { temperature, topK, seed }, { graph: opts.graph });
  {
    using input = fromArray(Int32Array.from(ids), { shape: [1, ids.length] }).to(model.device);
    using logits = model.forward(input, cache);
    const next = decoder.tokens.reshape(1);
    if (temperature > 0) sample(logits, { temperature, topK, seed, position: cache.position, out: next });
    else argmax(logits, { out: next });
  }
  const text = tokenizer.decoder();
  for (let n = 0; n < maxTokens; n++) {
    const id = (n === 0 ? (decoder.tokens.toArray() as Int32Array) : decoder.next())[0]!;
    if (id === tokenizer.eosId) break;
    yield { id, text: text.push(id) };
  }
}
