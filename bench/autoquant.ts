/**
 * autoquant on one Llama decoder layer's projections (llama3-8b shapes, bf16, on a GPU; the tiny
 * preset on the CPU) over a generation workload: one prefill of T tokens, then `steps` decode
 * steps (M = 1). Prints autoquant's report, the workload's total per single candidate and for the
 * per-layer choices (from the report's timings), then measures the workload for real (harness:
 * L2 flushed, medians) with the autoquantized layers and with the best single config.
 * Run: `bun bench/autoquant.ts [--device cuda:0] [--cache file]`; JSON under $TAO_BENCH_OUT.
 */
import { parseArgs } from "node:util";
import {
  ALL_AUTOQUANT_CLASS_LIST, autoquant, finalizeAutoquant, formatAutoquantReport, Linear, llamaPreset, Module, quantize, randn,
  type AutoquantReport, type Tensor,
} from "../lib/index.ts";
import { bestDevice, timeOn } from "./harness.ts";
import { report, type Row } from "./report.ts";

const { values } = parseArgs({ options: { device: { type: "string" }, cache: { type: "string" } } });
const device = values.device ?? bestDevice();
const gpu = device !== "cpu";
const c = llamaPreset(gpu ? "llama3-8b" : "tiny");
const kv = (c.dim / c.nHeads) * c.nKvHeads;
const T = gpu ? 2048 : 64, steps = gpu ? 128 : 16;
const PROJ: [string, number, number][] = [
  ["q_proj", c.dim, c.dim], ["k_proj", c.dim, kv], ["v_proj", c.dim, kv], ["o_proj", c.dim, c.dim],
  ["gate_proj", c.dim, c.hiddenDim], ["up_proj", c.dim, c.hiddenDim], ["down_proj", c.hiddenDim, c.dim],
];

/** The seven projections; forward(x [M, dim], h [M, hidden]) runs each once (down_proj on h). */
class LayerSet extends Module {
  constructor() {
    super();
    for (const [i, [name, k, n]] of PROJ.entries()) this.registerModule(name, new Linear(k, n, { dtype: "bf16", device, seed: i + 1, bias: false }));
  }

  forward(x: Tensor, h: Tensor): void {
    for (const [name] of PROJ) (this.getModule(name) as Linear).forward(name === "down_proj" ? h : x).dispose();
  }
}

const inputs = (m: number) => [randn([m, c.dim], { dtype: "bf16", device, seed: m }), randn([m, c.hiddenDim], { dtype: "bf16", device, seed: m + 1 })] as const;
const [xT, hT] = inputs(T), [x1, h1] = inputs(1);

/** The workload's time in µs, measured: one prefill plus `steps` decode steps of every projection. */
async function measured(model: LayerSet): Promise<number> {
  const prefill = await timeOn(device, () => model.forward(xT, hT));
  const decode = await timeOn(device, () => model.forward(x1, h1));
  return prefill.us + steps * decode.us;
}

const aq = new LayerSet();
autoquant(aq, { manual: true, classList: ALL_AUTOQUANT_CLASS_LIST, minSqnr: 20, cachePath: values.cache, onError: "skip" });
aq.forward(xT, hT);
for (let i = 0; i < steps; i++) aq.forward(x1, h1);
const r: AutoquantReport = finalizeAutoquant(aq);
console.log(formatAutoquantReport(r));

const chosenUs = r.layers.reduce((t, l) => t + l.candidates.find((x) => x.name === l.choice)!.totalUs!, 0);
const rows: Row[] = ALL_AUTOQUANT_CLASS_LIST.flatMap((cand) => {
  const per = r.layers.map((l) => l.candidates.find((x) => x.name === cand.name)!.totalUs);
  if (per.some((us) => us === null)) return [];
  const us = per.reduce<number>((a, b) => a + b!, 0);
  return [{ config: cand.name, "workload ms": us / 1000, "autoquant / this": chosenUs / us }];
});
rows.push({ config: "autoquant (per layer)", "workload ms": chosenUs / 1000, "autoquant / this": 1 });
const best = rows.slice(0, -1).reduce((a, b) => ((b["workload ms"] as number) < (a["workload ms"] as number) ? b : a));

const single = new LayerSet();
const bestConfig = ALL_AUTOQUANT_CLASS_LIST.find((x) => x.name === best.config)!.config;
if (bestConfig !== null) quantize(single, bestConfig);
const realAq = await measured(aq), realSingle = await measured(single);
rows.push({ config: `measured: autoquant`, "workload ms": realAq / 1000, "autoquant / this": 1 });
rows.push({ config: `measured: ${best.config} everywhere`, "workload ms": realSingle / 1000, "autoquant / this": realAq / realSingle });
report("autoquant", `autoquant: ${gpu ? "llama3-8b" : "tiny"} layer projections, prefill ${T} + ${steps} decode steps, on ${device} (${r.deviceName})`, rows, {
  choices: Object.fromEntries(r.layers.map((l) => [l.name, l.choice])), measured: r.measured, fromCache: r.fromCache, autoquant: r,
});
for (const t of [xT, hT, x1, h1]) t.dispose();
aq.dispose();
single.dispose();
