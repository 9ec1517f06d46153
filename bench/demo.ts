/**
 * The demo (npm run demo), tao's main job on whatever machine it runs: (1) the Llama decode benchmark
 * at a size that fits (llama3-8b shapes with synthetic bf16 weights on a GPU, the small `tiny` preset on
 * a CPU): tokens/s per quantization scheme, speedup, weight memory and accuracy against the unquantized
 * model; (2) the real model shipped in the package (stories260K) telling a story, streamed token by
 * token, and what each scheme costs it in quality (perplexity on TinyStories text it was not trained
 * on, agreement with the f32 model). Nothing is downloaded.
 *
 *   bun bench/demo.ts [--device cpu|cuda:0] [--steps N]
 */
import { parseArgs } from "node:util";
import { capabilities, generate, Llama, loadStories260K } from "../lib/index.ts";
import { bestDevice } from "./harness.ts";
import { table, type Row } from "./report.ts";
import { runLlamaBench } from "./llama.ts";
import { llamaQualityTable } from "./llama_quality.ts";

const { values } = parseArgs({ options: { device: { type: "string" }, steps: { type: "string", default: "32" } } });
const device = values.device ?? bestDevice();
const caps = capabilities();
const where = device === "cpu" ? `CPU (${caps.cpu.threads} threads)` : `${device} (${caps.cuda.devices[0]?.name})`;
console.log(`tao ${caps.version} on ${where}\n`);

// (1) Speed per scheme.
const steps = Number(values.steps);
const { rows, preset } = runLlamaBench({ device, batches: [1], steps, prompt: 128 }, false);
const ref = Object.keys(rows[0]!).find((k) => k.startsWith("× "))!;
const shown: Row[] = rows.map((r) => ({
  scheme: r.scheme!, "tokens/s": r["tok/s b1"]!, [`speedup vs ${String(ref).slice(2)}`]: r[ref]!, "weights MB": Number(r["weights GB"]) * 1e3,
  [`top-1 agree (${8 + steps} steps)`]: r["top-1 agree"]!, "logit SQNR dB": r["logit SQNR dB"]!,
}));
console.log(`Llama decode, ${preset} shapes, synthetic weights, batch 1, one CUDA graph per token on a GPU:\n`);
console.log(table(shown));

// (2) The real model.
const { checkpoint, tokenizer } = loadStories260K({ device });
using model = Llama.fromCheckpoint(checkpoint);
checkpoint.dispose();
const prompt = "Once upon a time";
process.stdout.write(`\nstories260K (${device}, f32) continues "${prompt}":\n\n${prompt}`);
const t0 = performance.now();
let n = 0;
for (const token of generate(model, tokenizer, prompt, { maxTokens: 200, temperature: 0.8, topK: 40, seed: 42 })) {
  process.stdout.write(token.text);
  n++;
}
console.log(`\n\n(${n} tokens, ${((n / (performance.now() - t0)) * 1e3).toFixed(0)} tokens/s including the prompt's prefill)`);

// (3) Quality per scheme on real text.
const protocol = { pieces: 50, maxTokens: 128 };
const quality = llamaQualityTable({ device, ...protocol });
console.log(`\nstories260K quality per scheme (perplexity over the first ${protocol.pieces} TinyStories pieces, <= ${protocol.maxTokens} tokens; agreement with f32):\n`);
console.log(table(quality.map(({ why: _, ...r }) => r)));
