/**
 * Llama decode benchmark, torchao's llama table from TypeScript: per quantization scheme, decode
 * tokens/s at each batch (one decode step = a replayed CUDA graph), time to first token of a prompt,
 * weight and peak device memory, and accuracy against the unquantized model (top-1 agreement and logit
 * SQNR over teacher-forced greedy steps). Synthetic weights (nothing to download): llama3-8b shapes on
 * a GPU, the small `tiny` preset on a CPU. On a GPU also the host overhead of generate()'s loop (the
 * fraction of a batch-1 step the GPU idles between steps) and, beside us, the PyTorch peer
 * (bench/llama_peer.ts: torch.compile "max-autotune" with CUDA graphs, for bf16 and int4wo-<g>), run
 * first, before tao allocates anything; it is skipped, with the reason, where python3, torch or CUDA is
 * missing.
 *
 *   bun bench/llama.ts [--device cuda:0|cpu] [--preset llama3-8b] [--schemes bf16,int4wo-128,...]
 *                      [--batches 1,8] [--steps 64] [--prompt 512] [--peer run|off|<peer.json>] [--peer-timeout 600]
 *
 * Writes llama-<preset>-<device>.json (the peer's stderr to llama-<preset>-<device>-peer.log) and a bar
 * chart (SVG) of tokens/s at batch 1, tao's and the peer's, under $TAO_BENCH_OUT.
 */
import { parseArgs } from "node:util";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Context, Llama, llamaPreset } from "../lib/index.ts";
import { llamaScheme } from "../lib/cli/schemes.ts";
import { invalid } from "../lib/errors.ts";
import { bestDevice } from "./harness.ts";
import { report, type Row } from "./report.ts";
import { barChart, type Bar } from "./plot.ts";
import { agreement, decodeSeconds, hostIdle, prefillSeconds } from "./llama_timing.ts";
import { parameterBytes } from "./llama_quality.ts";
import { peerSchemes, readPeer, runPeer, type LlamaPeer } from "./llama_peer.ts";

/** The schemes of a GPU run unless --schemes says otherwise. */
const DEFAULT_GPU_SCHEMES = ["bf16", "int8wo", "int4wo-64", "int4wo-128", "w8a8", "float8-row", "autoquant"];

/** What one benchmark run covers. */
export interface LlamaBenchOptions {
  device: string;
  /** Preset name (default: llama3-8b on a GPU, tiny on the CPU). */
  preset?: string;
  /** Scheme names (lib/cli/schemes.ts), the first being the reference of the speedup and accuracy columns. */
  schemes?: string[];
  batches?: number[];
  steps?: number;
  /** Prompt length of the time-to-first-token column. */
  prompt?: number;
  /** Measure the GPU's idle time between generate()'s batch-1 steps (column "GPU idle b1"). */
  idle?: boolean;
  /** The PyTorch peer's results: columns "torch tok/s b1" and "× torch" for the schemes it has. */
  peer?: LlamaPeer;
}

/** Runs the benchmark (one row per scheme, each printed as JSON when `log`); returns the rows and the preset's name. */
export function runLlamaBench(opts: LlamaBenchOptions, log = true): { rows: Row[]; preset: string; dtype: string } {
  const { device, batches = [1, 8], steps = 64, prompt: promptLen = 512, idle = false, peer } = opts;
  const gpu = device !== "cpu";
  const preset = opts.preset ?? (gpu ? "llama3-8b" : "tiny");
  const config = llamaPreset(preset);
  // Weights are bf16 on the GPU, f32 on the CPU, then each scheme's quantization (every Linear, lm_head included).
  const dtype = gpu ? "bf16" : "f32";
  const names = opts.schemes ?? (gpu ? DEFAULT_GPU_SCHEMES : ["f32", "int8wo", "int4wo-64", "w8a8", "autoquant"]);
  const schemes = names.map((n) => llamaScheme(n) ?? (() => { throw invalid("bench/llama", `unknown scheme ${n}`); })());
  const ctx = Context.get(device);
  // The accuracy probe: one fixed token sequence, teacher-forced through every model.
  const probe = Int32Array.from({ length: 8 + steps }, (_, i) => (i * 7919 + 13) % config.vocabSize);
  const rows: Row[] = [];
  let reference: Float32Array | null = null, base = 0;
  for (const scheme of schemes) {
    using model = new Llama(config, { dtype, device, seed: 0 });
    scheme.apply(model, []);
    const bytes = parameterBytes(model);
    // Bytes one decode step reads at batch 1: every weight but the embedding table (one row is read).
    const stepBytes = bytes - config.vocabSize * config.dim * (dtype === "bf16" ? 2 : 4);
    const { logits, top1, sqnrDb } = agreement(model, probe, reference);
    if (reference === null) reference = logits;
    // Peak memory of inference (prefill and decode) on top of what is allocated now (mostly the weights;
    // building a quantized model from bf16 weights peaks higher, once).
    if (gpu) ctx.synchronize();
    const before = gpu ? ctx.memory({ resetPeak: true }).used : 0;
    const ttft = prefillSeconds(model, promptLen);
    const row: Row = { scheme: scheme.name, "weights GB": bytes / 1e9 };
    for (const b of batches) {
      const s = decodeSeconds(model, b, steps);
      row[`tok/s b${b}`] = (b * steps) / s;
      if (b === batches[0]) {
        if (base === 0) base = (b * steps) / s;
        row[`× ${names[0]}`] = (b * steps) / s / base;
        if (gpu && b === 1) row["of bound b1"] = stepBytes / (s / steps) / 3.0e12;
      }
    }
    const peerRow = peer?.schemes[scheme.name];
    if (peerRow !== undefined && row["tok/s b1"] !== undefined) {
      row["torch tok/s b1"] = peerRow.tok_s;
      row["× torch"] = Number(row["tok/s b1"]) / peerRow.tok_s;
    }
    if (idle && gpu) row["GPU idle b1"] = hostIdle(model, steps).idle;
    row[`TTFT ${promptLen} ms`] = ttft * 1e3;
    if (gpu) row["peak GB"] = ctx.memory().peak / 1e9, row["activations GB"] = (ctx.memory().peak - before) / 1e9;
    row["top-1 agree"] = top1;
    row["logit SQNR dB"] = sqnrDb;
    rows.push(row);
    if (log) console.log(JSON.stringify(row));
  }
  ctx.synchronize();
  return { rows, preset, dtype };
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      device: { type: "string" }, preset: { type: "string" }, schemes: { type: "string" },
      batches: { type: "string", default: "1,8" }, steps: { type: "string", default: "64" }, prompt: { type: "string", default: "512" },
      peer: { type: "string" }, "peer-timeout": { type: "string", default: "600" },
    },
  });
  const device = values.device ?? bestDevice();
  const gpu = device !== "cpu";
  const preset = values.preset ?? (gpu ? "llama3-8b" : "tiny");
  const schemes = values.schemes?.split(",");
  const steps = Number(values.steps);
  const name = `llama-${preset}-${device.replace(":", "")}`;
  // The peer first, while this process holds no device memory.
  const peerMode = values.peer ?? "run";
  let peer: LlamaPeer | undefined, peerNote: string;
  if (peerMode === "off") peerNote = "not run (--peer off)";
  else if (peerMode !== "run") (peer = readPeer(peerMode)), (peerNote = `read from ${peerMode}`);
  else if (!gpu) peerNote = "not run: the PyTorch peer needs a CUDA device";
  else {
    const which = peerSchemes(schemes ?? DEFAULT_GPU_SCHEMES);
    const dir = process.env.TAO_BENCH_OUT ?? join(dirname(fileURLToPath(import.meta.url)), "out");
    mkdirSync(dir, { recursive: true });
    const r = which.length === 0 ? { skipped: "no scheme it implements (bf16, int4wo-<g>)" } : runPeer(llamaPreset(preset), which, steps, Number(values["peer-timeout"]), join(dir, `${name}-peer.log`));
    if ("skipped" in r) peerNote = `not run: ${r.skipped}`;
    else (peer = r), (peerNote = `run beside tao (${which.join(", ")})`);
  }
  console.log(`(PyTorch peer ${peerNote})`);
  const { rows, dtype } = runLlamaBench({
    device, preset, schemes, batches: values.batches!.split(",").map(Number), steps, prompt: Number(values.prompt), idle: gpu, peer,
  });
  report(name, `Llama decode (${device}, ${preset} shapes, synthetic ${dtype} weights, ${values.steps} steps)`, rows, { preset, peer: peer ?? peerNote });
  const bars: Bar[] = rows.flatMap((r) => {
    const ours: Bar = [String(r.scheme), Number(r["tok/s b1"] ?? 0), "tao"];
    return r["torch tok/s b1"] === undefined ? [ours] : [ours, [String(r.scheme), Number(r["torch tok/s b1"]), `PyTorch ${peer!.mode}`]];
  });
  barChart(`${name}.svg`, `tokens/s at batch 1 (${device}, ${preset})`, bars);
}
