/**
 * Quality of the shipped stories260K model per quantization/sparsity scheme (issue 9): perplexity on
 * the shipped TinyStories validation text with the protocol of lib/models/perplexity.ts, Δppl against
 * f32, top-1 agreement and logit SQNR against f32, the bytes of the weights, and how many Linear
 * layers a scheme left as they were; then prefill and decode tokens/s per scheme.
 * Run: `bun bench/llama_quality.ts [--device cpu|cuda:0] [--pieces N] [--max-tokens T]`; JSON goes
 * to $TAO_BENCH_OUT (default bench/out/) as llama-quality-<device>.json and llama-speed-<device>.json.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { AffineQuantizedTensor, compareModels, protocolTokens, storiesModelPath, TaoError, type Llama, type PerplexityProtocol } from "../lib/index.ts";
import { CALIBRATION_PIECES, LLAMA_SCHEMES, llamaScheme, type LlamaScheme } from "../lib/cli/schemes.ts";
import { openLlama, SHIPPED_MODEL } from "../lib/cli/llama_model_arg.ts";
import { report, type Row } from "./report.ts";
import { decodeSeconds, graphFloorSeconds, prefillSeconds } from "./llama_timing.ts";

/** The schemes of the table: every named scheme but int4wo-128 (K = 64 and 172: it quantizes nothing here). */
export const QUALITY_SCHEMES = LLAMA_SCHEMES.map((s) => s.name).filter((n) => n !== "int4wo-128");

/** Options of llamaQualityTable. */
export interface QualityOptions extends PerplexityProtocol {
  device?: string;
  /** Scheme names (default QUALITY_SCHEMES). */
  schemes?: string[];
}

/** A scheme's model, or why it could not be made (a TaoError's message). */
interface Built {
  scheme: LlamaScheme;
  model: Llama | null;
  left: string;
  error?: string;
}

/** Bytes of every parameter the model holds (quantized ones: their layout's storage; the tied lm_head is its own copy). */
export function parameterBytes(model: Llama): number {
  return model.namedParameters().reduce((sum, [, p]) =>
    sum + (p instanceof AffineQuantizedTensor ? Object.values(p.storage).reduce((s, t) => s + t.nbytes, 0) : p.nbytes), 0);
}

/** `scheme` applied to a fresh copy of the shipped model, calibrated on `calibration` where it calibrates. */
function build(scheme: LlamaScheme, device: string, calibration: number[][]): Built {
  const { model } = openLlama(SHIPPED_MODEL, { dtype: scheme.dtype, device });
  try {
    const r = scheme.apply(model, calibration);
    const left = r === null ? "-" : `${r.skipped.length}/${r.quantized.length + r.skipped.length}`;
    return { scheme, model, left };
  } catch (e) {
    model.dispose();
    if (!(e instanceof TaoError)) throw e;
    return { scheme, model: null, left: "-", error: e.message };
  }
}

/**
 * The quality table: one row per scheme (f32 first, the reference). Evaluation slice: the first
 * `pieces` pieces of the shipped validation text; SmoothQuant and Wanda calibrate on the
 * CALIBRATION_PIECES pieces after it. A scheme that cannot run (a TaoError) gives a row of "n/a"
 * with the reason in `why`.
 */
export function llamaQualityTable(opts: QualityOptions = {}): Row[] {
  const { device = "cpu", pieces = 200, maxTokens = 256, schemes = QUALITY_SCHEMES } = opts;
  const text = readFileSync(storiesModelPath("tinystories_val.txt"), "utf8");
  const { model: reference, tokenizer } = openLlama(SHIPPED_MODEL, { dtype: "f32", device });
  const built: Built[] = [];
  try {
    const calibration = protocolTokens(tokenizer, text, { pieces: CALIBRATION_PIECES, maxTokens }, reference.config.seqLen, "llamaQualityTable", pieces);
    for (const name of schemes) {
      const scheme = llamaScheme(name);
      if (scheme === undefined) throw new Error(`unknown scheme ${name}`);
      built.push(build(scheme, device, calibration));
    }
    const ready = built.filter((b) => b.model !== null);
    const r = compareModels(reference, ready.map((b) => b.model!), tokenizer, text, { pieces, maxTokens });
    return built.map((b): Row => {
      const c = b.model === null ? undefined : r.candidates[ready.indexOf(b)]!;
      if (c === undefined) return { scheme: b.scheme.name, ppl: "n/a", "Δppl": "", "top-1 %": "", "logit SQNR dB": "", "weight KB": "", unquantized: b.left, why: b.error! };
      return {
        scheme: b.scheme.name, ppl: c.ppl, "Δppl": c.ppl - r.reference.ppl, "top-1 %": 100 * c.top1Agreement,
        "logit SQNR dB": Number.isFinite(c.logitSqnr) ? c.logitSqnr : "inf", "weight KB": parameterBytes(b.model!) / 1024, unquantized: b.left,
      };
    });
  } finally {
    reference.dispose();
    for (const b of built) b.model?.dispose();
  }
}

/**
 * Prefill tokens/s (a `prompt`-token forward, batch 1) and decode tokens/s (`decode` steps, batch 1;
 * CUDA-graph replay on the GPU) of each scheme's model, timed by bench/llama_timing.ts; calibrated as
 * in llamaQualityTable, "n/a" rows as there.
 */
export function llamaSpeedTable(opts: QualityOptions & { prompt?: number; decode?: number } = {}): Row[] {
  const { device = "cpu", pieces = 200, maxTokens = 256, schemes = QUALITY_SCHEMES, prompt = 128, decode = 128 } = opts;
  const text = readFileSync(storiesModelPath("tinystories_val.txt"), "utf8");
  const { model: f32, tokenizer } = openLlama(SHIPPED_MODEL, { dtype: "f32", device });
  const calibration = protocolTokens(tokenizer, text, { pieces: CALIBRATION_PIECES, maxTokens }, f32.config.seqLen, "llamaSpeedTable", pieces);
  f32.dispose();
  return schemes.map((name): Row => {
    const b = build(llamaScheme(name)!, device, calibration);
    if (b.model === null) return { scheme: name, "prefill tok/s": "n/a", "decode tok/s": "", "decode step us": "", why: b.error! };
    using model = b.model;
    const step = decodeSeconds(model, 1, decode) / decode;
    return { scheme: name, "prefill tok/s": prompt / prefillSeconds(model, prompt), "decode tok/s": 1 / step, "decode step us": 1e6 * step };
  });
}

/** Prints the reasons of the "n/a" rows. */
function printWhy(rows: Row[]): void {
  for (const r of rows) if (r.why !== undefined) console.log(`  ${r.scheme}: n/a because ${r.why}`);
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { device: { type: "string" }, pieces: { type: "string" }, "max-tokens": { type: "string" } } });
  const device = values.device ?? "cpu";
  const protocol = { pieces: Number(values.pieces ?? 200), maxTokens: Number(values["max-tokens"] ?? 256) };
  const t0 = performance.now();
  const rows = llamaQualityTable({ device, ...protocol });
  const seconds = (performance.now() - t0) / 1000;
  report(`llama-quality-${device.replace(":", "")}`, `stories260K quality per scheme (${device}; first ${protocol.pieces} pieces, <= ${protocol.maxTokens} tokens; ${seconds.toFixed(1)} s)`, rows, { protocol });
  printWhy(rows);
  const speed = llamaSpeedTable({ device, ...protocol });
  // On a GPU this model is launch-bound: the decode step beside the replay floor of a one-kernel graph.
  const floor = device === "cpu" ? null : graphFloorSeconds(device);
  const floorNote = floor === null ? "" : `; graph-replay floor ${(floor * 1e6).toFixed(2)} us per graph`;
  report(`llama-speed-${device.replace(":", "")}`, `stories260K tokens/s per scheme (${device}; batch 1, 128-token prompt, 128 decode steps${floorNote})`, speed, { graphFloorUs: floor === null ? null : floor * 1e6 });
  printWhy(speed);
}
