/**
 * autoquant on a model that mixes decode-like and prefill-like linears (issue 6): an "encoder" and a
 * "decoder", each the seven projections of one Llama decoder layer (llama3-8b shapes, bf16, on a GPU;
 * the tiny preset on the CPU), with their own weights. The workload is one prefill of T rows through
 * the encoder and `steps` one-row calls of the decoder.
 *   1. autoquant (ALL class list, minSqnr 20 dB, mode "relu": whole-op timings, as the workload runs
 *      them) records the workload and picks per layer; each choice is checked against the report's
 *      own timings.
 *   2. The workload is measured end to end (harness: L2 flushed, medians) with the autoquantized
 *      model and with every candidate that qualified on every layer applied to every layer, in
 *      rounds that interleave the models, so none gains from its place in the order.
 *   3. A fresh model autoquantized again with the same cache file (the process's memory of timings
 *      cleared) must measure nothing and choose the same.
 * Run: `bun bench/autoquant.ts [--device cuda:0] [--cache file] [--rounds 3]`; JSON under $TAO_BENCH_OUT.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  ALL_AUTOQUANT_CLASS_LIST, autoquant, clearAutoquantTimings, finalizeAutoquant, formatAutoquantReport, Linear, llamaPreset,
  median, Module, quantize, randn, type AutoquantReport, type Tensor,
} from "../lib/index.ts";
import { bestDevice, timeOn } from "./harness.ts";
import { report, type Row } from "./report.ts";

const { values } = parseArgs({ options: { device: { type: "string" }, cache: { type: "string" }, rounds: { type: "string" } } });
const device = values.device ?? bestDevice();
const gpu = device !== "cpu";
const rounds = Number(values.rounds ?? 3);
const cachePath = values.cache ?? join(mkdtempSync(join(tmpdir(), "tao-autoquant-")), "timings.json");
const c = llamaPreset(gpu ? "llama3-8b" : "tiny");
const kv = (c.dim / c.nHeads) * c.nKvHeads;
const T = gpu ? 4096 : 64, steps = gpu ? 128 : 16;
const PROJ: [string, number, number][] = [
  ["q_proj", c.dim, c.dim], ["k_proj", c.dim, kv], ["v_proj", c.dim, kv], ["o_proj", c.dim, c.dim],
  ["gate_proj", c.dim, c.hiddenDim], ["up_proj", c.dim, c.hiddenDim], ["down_proj", c.hiddenDim, c.dim],
];
const CONFIGS = ALL_AUTOQUANT_CLASS_LIST;
const MIN_SQNR = 20;

/** One layer's seven projections; forward(x [M, dim], h [M, hidden]) runs each once (down_proj on h). */
class Projections extends Module {
  constructor(seed: number) {
    super();
    for (const [i, [name, k, n]] of PROJ.entries()) {
      this.registerModule(name, new Linear(k, n, { dtype: "bf16", device, seed: seed + i, bias: false }));
    }
  }

  forward(x: Tensor, h: Tensor): void {
    for (const [name] of PROJ) (this.getModule(name) as Linear).forward(name === "down_proj" ? h : x).dispose();
  }
}

/** The encoder (prefill-like: T rows) and the decoder (decode-like: one row per call). */
class EncoderDecoder extends Module {
  readonly encoder = new Projections(1);
  readonly decoder = new Projections(101);

  constructor() {
    super();
    this.registerModule("encoder", this.encoder);
    this.registerModule("decoder", this.decoder);
  }

  /** The workload: the prompt (xp, hp) through the encoder, then `steps` calls of the decoder on (xt, ht). */
  forward(xp: Tensor, hp: Tensor, xt: Tensor, ht: Tensor): void {
    this.encoder.forward(xp, hp);
    for (let i = 0; i < steps; i++) this.decoder.forward(xt, ht);
  }
}

const inputs = (m: number) => [randn([m, c.dim], { dtype: "bf16", device, seed: m }), randn([m, c.hiddenDim], { dtype: "bf16", device, seed: m + 1 })] as const;
const [xT, hT] = inputs(T), [x1, h1] = inputs(1);

/** The workload's time in µs, measured: the encoder's prefill plus `steps` decoder calls. */
async function measured(model: EncoderDecoder): Promise<number> {
  const prefill = await timeOn(device, () => model.encoder.forward(xT, hT));
  const decode = await timeOn(device, () => model.decoder.forward(x1, h1));
  return prefill.us + steps * decode.us;
}

/** Autoquantizes a fresh model over one run of the workload. */
function autoquantized(): { model: EncoderDecoder; report: AutoquantReport } {
  const model = new EncoderDecoder();
  autoquant(model, { manual: true, classList: CONFIGS, minSqnr: MIN_SQNR, mode: "relu", cachePath, onError: "skip" });
  model.forward(xT, hT, x1, h1);
  return { model, report: finalizeAutoquant(model) };
}

/** Throws unless every layer's choice is the smallest total among its candidates that were not excluded. */
function checkChoices(r: AutoquantReport): void {
  for (const l of r.layers) {
    const ok = l.candidates.filter((x) => x.excluded === null);
    const best = ok.reduce((a, b) => (b.totalUs! < a.totalUs! ? b : a));
    if (best.name !== l.choice) throw new Error(`${l.name}: chose ${l.choice}, but ${best.name} has the smallest total (${best.totalUs} us)`);
  }
}

const first = autoquantized();
console.log(formatAutoquantReport(first.report));
checkChoices(first.report);
const reportUs = (name: string) => first.report.layers.reduce<number | null>((t, l) => {
  const us = l.candidates.find((x) => x.name === name)!.totalUs;
  return t === null || us === null ? null : t + us;
}, 0);
const chosenUs = first.report.layers.reduce((t, l) => t + l.candidates.find((x) => x.name === l.choice)!.totalUs!, 0);

// Every candidate that qualified on every layer, applied to every layer.
const singles = CONFIGS.filter((cand) => reportUs(cand.name) !== null).map((cand) => {
  const model = new EncoderDecoder();
  if (cand.config !== null) quantize(model, cand.config);
  return { name: cand.name, model, us: [] as number[] };
});
const contenders = [{ name: "autoquant (per layer)", model: first.model, us: [] as number[] }, ...singles];
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? contenders : [...contenders].reverse();
  for (const m of order) m.us.push(await measured(m.model));
}

const aqMeasured = median(contenders[0]!.us);
const rows: Row[] = contenders.map((m, i) => {
  const rep = i === 0 ? chosenUs : reportUs(m.name)!;
  const meas = median(m.us);
  return {
    config: m.name, "report ms": rep / 1000, "measured ms": meas / 1000, "rounds min–max ms": `${(Math.min(...m.us) / 1000).toFixed(2)}–${(Math.max(...m.us) / 1000).toFixed(2)}`,
    "autoquant / this (report)": chosenUs / rep, "autoquant / this (measured)": aqMeasured / meas,
  };
});
const bestSingle = singles.reduce((a, b) => (median(b.us) < median(a.us) ? b : a));
const ratio = aqMeasured / median(bestSingle.us);
console.log(`\nautoquant measured ${(aqMeasured / 1000).toFixed(3)} ms; best single config (${bestSingle.name} everywhere) ${(median(bestSingle.us) / 1000).toFixed(3)} ms: ratio ${ratio.toFixed(3)} (issue 6 asks <= 1.05)`);

clearAutoquantTimings();
const second = autoquantized();
const sameChoices = second.report.layers.every((l, i) => l.choice === first.report.layers[i]!.choice);
console.log(`second run with ${cachePath}: ${second.report.measured} timings measured, ${second.report.fromCache} from the cache; same choices: ${sameChoices}`);
console.log(formatAutoquantReport(second.report).split("\n")[0]);

report("autoquant", `autoquant: encoder (prefill ${T} rows) + decoder (${steps} one-row steps), ${gpu ? "llama3-8b" : "tiny"} layer projections, on ${device} (${first.report.deviceName})`, rows, {
  choices: Object.fromEntries(first.report.layers.map((l) => [l.name, l.choice])),
  autoquantOverBestSingle: ratio, bestSingle: bestSingle.name, rounds,
  secondRun: { measured: second.report.measured, fromCache: second.report.fromCache, sameChoices },
  autoquant: first.report,
});
for (const t of [xT, hT, x1, h1]) t.dispose();
for (const m of contenders) m.model.dispose();
second.model.dispose();
if (!sameChoices || second.report.measured !== 0) throw new Error("the second run with the cache file measured again or chose differently");
