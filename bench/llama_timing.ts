/**
 * The measurements of bench/llama.ts on one model: decode time per step (a replayed CUDA graph, or
 * eager steps on the CPU), prefill time of a prompt (time to first token), and the model's agreement
 * with a reference model on a teacher-forced probe sequence.
 */
import { argmax, captureGraph, Context, Event, fromArray, incrementPosition, LlamaDecoder, zeros, type Llama } from "../lib/index.ts";

/** 10·log10(Σ ref² / Σ (ref − x)²). */
function sqnrDb(ref: Float32Array, x: Float32Array): number {
  let signal = 0, noise = 0;
  for (let i = 0; i < ref.length; i++) (signal += ref[i]! * ref[i]!), (noise += (ref[i]! - x[i]!) ** 2);
  return 10 * Math.log10(signal / noise);
}

/** Seconds `fn` takes on the model's device (CUDA events around it, or the host clock). */
function seconds(model: Llama, fn: () => void): number {
  if (model.device === "cpu") {
    const t0 = performance.now();
    fn();
    return (performance.now() - t0) / 1e3;
  }
  const ctx = Context.get(model.device);
  using start = ctx.createEvent().record();
  fn();
  using end = ctx.createEvent().record();
  return Event.elapsedMs(start, end) / 1e3;
}

const tokens = (n: number, vocab: number, salt: number) => Int32Array.from({ length: n }, (_, i) => (i * 2654435761 + salt) % vocab);

/**
 * Seconds of `steps` decode steps at batch `batch` after an 8-token prompt, each run by `loop` (given
 * the decoder, it runs the steps), the median of 3 runs after a warm-up run.
 */
function decodeRunSeconds(model: Llama, batch: number, steps: number, loop: (decoder: LlamaDecoder) => void): number {
  const prompt = 8, runs: number[] = [];
  using cache = model.newCache(batch, prompt + steps + 1);
  using decoder = new LlamaDecoder(model, cache);
  using ids = fromArray(tokens(batch * prompt, model.config.vocabSize, 1), { shape: [batch, prompt] }).to(model.device);
  for (let r = 0; r < 4; r++) {
    cache.reset();
    using logits = model.forward(ids, cache);
    argmax(logits, { out: decoder.tokens.reshape(batch) });
    const s = seconds(model, () => loop(decoder));
    if (r > 0) runs.push(s);  // the first run warms up
  }
  return runs.sort((a, b) => a - b)[1]!;
}

/**
 * Seconds of `steps` decode steps at batch `batch` after an 8-token prompt (the step: the whole model
 * for one token per sequence plus the next-token argmax; the median of 3 runs), enqueued back to back.
 */
export function decodeSeconds(model: Llama, batch: number, steps: number): number {
  return decodeRunSeconds(model, batch, steps, (d) => {
    for (let i = 0; i < steps; i++) d.step();
  });
}

/**
 * Host overhead of decoding at batch 1: `steps` steps run as generate() runs them (LlamaDecoder.next():
 * replay the step, wait for it, read the token on the host, replay the next) against the same steps
 * enqueued back to back (the device's time alone), both timed on the device. idle = 1 − pure / real is
 * the fraction of a step the device waits for the host (meaningful on a GPU only).
 */
export function hostIdle(model: Llama, steps: number): { real: number; pure: number; idle: number } {
  const real = decodeRunSeconds(model, 1, steps, (d) => {
    for (let i = 0; i < steps; i++) d.next();
  });
  const pure = decodeSeconds(model, 1, steps);
  return { real, pure, idle: 1 - pure / real };
}

/** Seconds from a `length`-token prompt (batch 1) to its first generated token (median of 3 after a warm-up). */
export function prefillSeconds(model: Llama, length: number): number {
  using cache = model.newCache(1, length);
  using ids = fromArray(tokens(length, model.config.vocabSize, 2), { shape: [1, length] }).to(model.device);
  const runs: number[] = [];
  for (let r = 0; r < 4; r++) {
    cache.reset();
    const s = seconds(model, () => {
      using logits = model.forward(ids, cache);
      argmax(logits).dispose();
    });
    if (r > 0) runs.push(s);
  }
  return runs.sort((a, b) => a - b)[1]!;
}

/**
 * Logits [T·V] of `probe` (one sequence, teacher-forced) and, against `reference` (another model's
 * logits of the same probe; null for the reference itself), the fraction of positions whose argmax
 * agrees and the logit SQNR.
 */
export function agreement(model: Llama, probe: Int32Array, reference: Float32Array | null): { logits: Float32Array; top1: number; sqnrDb: number } {
  using cache = model.newCache(1, probe.length);
  using ids = fromArray(probe, { shape: [1, probe.length] }).to(model.device);
  using out = model.forward(ids, cache, { logits: "all" });
  const logits = out.toArray() as Float32Array;
  if (reference === null) return { logits, top1: 1, sqnrDb: Infinity };
  const V = model.config.vocabSize, T = probe.length;
  const best = (a: Float32Array, t: number) => {
    let k = 0;
    for (let i = 1; i < V; i++) if (a[t * V + i]! > a[t * V + k]!) k = i;
    return k;
  };
  let same = 0;
  for (let t = 0; t < T; t++) same += best(logits, t) === best(reference, t) ? 1 : 0;
  return { logits, top1: same / T, sqnrDb: sqnrDb(reference, logits) };
}

/**
 * The graph-replay floor on a CUDA device: seconds per replay of a graph holding one trivial kernel
 * (a position increment), replayed back to back — what a launch-bound decode step cannot go below.
 */
export function graphFloorSeconds(device: string, replays = 1000): number {
  const ctx = Context.get(device);
  using position = zeros([1], { dtype: "i32", device });
  using graph = captureGraph(ctx, () => incrementPosition(position));
  for (let i = 0; i < 10; i++) graph.launch();
  using start = ctx.createEvent().record();
  for (let i = 0; i < replays; i++) graph.launch();
  using end = ctx.createEvent().record();
  return Event.elapsedMs(start, end) / 1e3 / replays;
}
