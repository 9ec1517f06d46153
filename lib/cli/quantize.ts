/** `tao quantize`: quantizes the Linear weights of a checkpoint with a named config and saves it. */
import { existsSync, statSync } from "node:fs";
import cliProgress from "cli-progress";
import { invalid } from "../errors.ts";
import type { Tensor } from "../tensor.ts";
import { isFloat } from "../dtypes.ts";
import { readSafetensors } from "../serialization/safetensors.ts";
import { quantize, int4WeightOnly, int8WeightOnly, type QuantConfig } from "../quantization/quant_api.ts";
import { int8DynamicActivationInt8Weight } from "../quantization/dynamic_configs.ts";
import { float8DynamicActivationFloat8Weight, float8WeightOnly } from "../quantization/float8_configs.ts";
import { nf4WeightOnly } from "../quantization/nf4_config.ts";
import { QUANTIZATION_METADATA_KEY, save } from "../quantization/serialization.ts";
import { sqnr } from "../quantization/metrics.ts";
import { Linear } from "../nn/index.ts";
import { AffineQuantizedTensor } from "../dtypes/affine_quantized_tensor.ts";
import { loadLlama2c } from "../models/llama2c.ts";
import { loadHfLlama } from "../models/hf_llama.ts";
import { weightTree } from "../models/weight_tree.ts";
import { choiceOption, stringOption, UsageError, WEIGHT_DTYPES, type Command } from "./command.ts";

/** The configs `--config` names. */
export const CLI_CONFIGS: Record<string, () => QuantConfig> = {
  "int4wo-128": () => int4WeightOnly({ groupSize: 128 }),
  "int4wo-64": () => int4WeightOnly({ groupSize: 64 }),
  "int4wo-32": () => int4WeightOnly({ groupSize: 32 }),
  int8wo: () => int8WeightOnly(),
  w8a8: () => int8DynamicActivationInt8Weight(),
  "float8wo": () => float8WeightOnly(),
  "float8-row": () => float8DynamicActivationFloat8Weight({ granularity: "row" }),
  nf4: () => nf4WeightOnly(),
};

/**
 * The weights of `path` and which of them are Linear weights: a folder is a Hugging Face Llama
 * checkpoint, a .safetensors file a plain one (2-D "<path>.weight" float tensors are Linear weights),
 * anything else a llama2.c checkpoint; in Llama checkpoints every 2-D weight but the token
 * embedding is a Linear weight.
 */
function loadWeights(path: string): { weights: Map<string, Tensor>; isLinear: (name: string, t: Tensor) => boolean } {
  const llama = (name: string) => name !== "model.embed_tokens.weight";
  if (existsSync(path) && statSync(path).isDirectory()) return { weights: loadHfLlama(path).weights, isLinear: llama };
  if (!path.endsWith(".safetensors")) return { weights: loadLlama2c(path).weights, isLinear: llama };
  const { metadata, tensors } = readSafetensors(path);
  if (metadata[QUANTIZATION_METADATA_KEY] !== undefined) throw invalid("tao quantize", `${path} is already quantized`);
  return { weights: tensors, isLinear: (_, t) => isFloat(t.dtype) };
}

interface Row {
  name: string;
  shape: string;
  result: string;
  sqnr: number | null;
}

function table(rows: Row[]): string {
  const head = ["layer", "shape", "layout / skipped because", "SQNR dB"];
  const cells = rows.map((r) => [r.name, r.shape, r.result, r.sqnr === null ? "" : r.sqnr.toFixed(1)]);
  const width = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((v, i) => (i === 3 ? v.padStart(width[i]!) : v.padEnd(width[i]!))).join("  ");
  return [line(head), line(width.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n") + "\n";
}

export const quantizeCommand: Command = {
  name: "quantize",
  summary: "quantize every Linear weight of a checkpoint and save it (per-layer SQNR table)",
  positionals: ["<in>"],
  options: {
    config: { type: "string", short: "c", arg: "<name>", help: `${Object.keys(CLI_CONFIGS).join(" | ")} (required)` },
    output: { type: "string", short: "o", arg: "<out.safetensors>", help: "output checkpoint (required)" },
    dtype: { type: "string", arg: "<dtype>", help: `cast Linear weights to ${WEIGHT_DTYPES.join(", ")} before quantizing (default: as stored)` },
    device: { type: "string", arg: "<device>", help: "quantize on this device (cpu, cuda:0; default cpu)" },
  },
  details: [
    "<in>: a .safetensors file of Linear weights (2-D float tensors named \"<layer>.weight\", with optional",
    "\"<layer>.bias\"), a Hugging Face Llama folder, or a llama2.c checkpoint (.bin). Other tensors are saved",
    "unchanged; layers a config cannot take (e.g. K not a multiple of the group size) stay float, as in",
    "torchao. The output loads with load()/loadInto() (lib/quantization/serialization.ts); a Llama checkpoint",
    "keeps the Hugging Face projection names, so load it into a Llama built with { fuse: false }.",
  ].join("\n"),
  run(args) {
    const name = stringOption(args, "config", true);
    const make = CLI_CONFIGS[name];
    if (make === undefined) throw new UsageError(`unknown --config ${JSON.stringify(name)} (one of ${Object.keys(CLI_CONFIGS).join(", ")})`);
    const out = stringOption(args, "output", true);
    const dtype = choiceOption(args, "dtype", WEIGHT_DTYPES);
    const device = stringOption(args, "device") ?? "cpu";
    const config = make();

    const { weights, isLinear } = loadWeights(args.positionals[0]!);
    using model = weightTree(weights, isLinear).to(device);
    const linears = model.namedModules().filter((e): e is [string, Linear] => e[1] instanceof Linear);
    if (dtype !== undefined) {
      for (const [, l] of linears) l.setParameter("weight", (l.weight as Tensor).cast(dtype))?.dispose();
    }
    const bar = new cliProgress.SingleBar({ format: "quantizing [{bar}] {value}/{total} {layer}", stream: process.stderr }, cliProgress.Presets.shades_classic);
    bar.start(linears.length, 0, { layer: "" });
    const rows: Row[] = [];
    for (const [layer, l] of linears) {
      bar.update({ layer });
      using reference = (l.weight as Tensor).clone();
      const report = quantize(model, config, { filter: (_, n) => n === layer });
      const q = l.weight;
      if (q instanceof AffineQuantizedTensor) {
        using back = q.dequantize(reference.dtype);
        rows.push({ name: layer, shape: `${q.shape[0]}x${q.shape[1]}`, result: report.quantized[0]!.layout, sqnr: sqnr(reference, back) });
      } else {
        rows.push({ name: layer, shape: `${reference.shape[0]}x${reference.shape[1]}`, result: report.skipped[0]?.reason ?? "skipped", sqnr: null });
      }
      bar.increment();
    }
    bar.stop();
    save(model, out);
    const done = rows.filter((r) => r.sqnr !== null);
    process.stdout.write(table(rows));
    const min = done.length ? Math.min(...done.map((r) => r.sqnr!)).toFixed(1) : "-";
    process.stdout.write(`${name}: ${done.length} of ${rows.length} Linear layers quantized (min SQNR ${min} dB), saved ${out}\n`);
    return 0;
  },
};
