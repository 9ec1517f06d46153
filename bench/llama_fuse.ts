/**
 * What fusing q/k/v and gate/up into one Linear each (the Llama's default, LlamaInit.fuse) does to
 * decode: per scheme, the same synthetic model built with separate projections (fuse: false, seven
 * Linears per layer) and fused ones (qkv_proj, gate_up_proj), in one run: decode tokens/s at each batch
 * (one replayed CUDA graph per step, bench/llama_timing.ts), the fraction of the bandwidth bound at
 * batch 1, and time to first token of a prompt.
 *
 *   bun bench/llama_fuse.ts [--device cuda:0|cpu] [--preset llama3-8b] [--schemes bf16,int4wo-128]
 *                           [--batches 1,8] [--steps 64] [--prompt 512]
 *
 * Writes llama-fuse-<preset>-<device>.json under $TAO_BENCH_OUT.
 */
import { parseArgs } from "node:util";
import { Llama, llamaPreset } from "../lib/index.ts";
import { llamaScheme } from "../lib/cli/schemes.ts";
import { invalid } from "../lib/errors.ts";
import { bestDevice } from "./harness.ts";
import { report, type Row } from "./report.ts";
import { decodeSeconds, prefillSeconds } from "./llama_timing.ts";
import { parameterBytes } from "./llama_quality.ts";

const { values } = parseArgs({
  options: {
    device: { type: "string" }, preset: { type: "string" }, schemes: { type: "string", default: "bf16,int4wo-128" },
    batches: { type: "string", default: "1,8" }, steps: { type: "string", default: "64" }, prompt: { type: "string", default: "512" },
  },
});
const device = values.device ?? bestDevice(), gpu = device !== "cpu";
const preset = values.preset ?? (gpu ? "llama3-8b" : "tiny");
const config = llamaPreset(preset), dtype = gpu ? "bf16" : "f32";
const batches = values.batches!.split(",").map(Number), steps = Number(values.steps), promptLen = Number(values.prompt);
const rows: Row[] = [];
for (const name of values.schemes!.split(",")) {
  const scheme = llamaScheme(name);
  if (scheme === undefined) throw invalid("bench/llama_fuse", `unknown scheme ${name}`);
  let separate = 0;
  for (const fuse of [false, true]) {
    using model = new Llama(config, { dtype, device, seed: 0, fuse });
    scheme.apply(model, []);
    // Bytes a batch-1 step reads: every weight but the embedding table (one row is read).
    const stepBytes = parameterBytes(model) - config.vocabSize * config.dim * (dtype === "bf16" ? 2 : 4);
    const row: Row = { scheme: name, projections: fuse ? "fused" : "separate" };
    for (const b of batches) {
      const s = decodeSeconds(model, b, steps);
      row[`tok/s b${b}`] = (b * steps) / s;
      if (b !== batches[0]) continue;
      if (!fuse) separate = (b * steps) / s;
      row["× separate"] = (b * steps) / s / separate;
      if (gpu && b === 1) row["of bound b1"] = stepBytes / (s / steps) / 3.0e12;
    }
    row[`TTFT ${promptLen} ms`] = prefillSeconds(model, promptLen) * 1e3;
    rows.push(row);
    console.log(JSON.stringify(row));
  }
}
report(`llama-fuse-${preset}-${device.replace(":", "")}`, `Llama decode, separate vs fused q|k|v and gate|up (${device}, ${preset} shapes, synthetic ${dtype} weights, ${steps} steps)`, rows, { preset });
