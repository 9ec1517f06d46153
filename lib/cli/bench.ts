/**
 * `tao bench llama|kernels`: runs the package's benchmark scripts (bench/llama.ts: Llama decode per
 * scheme; bench/run.ts: the kernel benchmarks) in this runtime, passing the options through.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { UsageError, type Command } from "./command.ts";

const SCRIPTS: Record<string, string> = { llama: "llama.ts", kernels: "run.ts" };
const benchDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "bench");

export const benchCommand: Command = {
  name: "bench",
  summary: "run a benchmark: llama (decode tokens/s, TTFT, memory, accuracy per scheme) or kernels",
  positionals: ["<llama|kernels>"],
  options: {
    device: { type: "string", arg: "<cpu|cuda:N>", help: "device (default: a GPU when present)" },
    preset: { type: "string", arg: "<name>", help: "llama: model shape preset (llama3-8b, llama2-7b, tiny, ...)" },
    schemes: { type: "string", arg: "<a,b,...>", help: "llama: schemes, the first the reference (bf16,int8wo,int4wo-128,...)" },
    batches: { type: "string", arg: "<1,8>", help: "llama: decode batch sizes" },
    steps: { type: "string", arg: "<n>", help: "llama: decode steps timed" },
    peer: { type: "string", arg: "<run|off|file.json>", help: "llama: the PyTorch peer (default run, on a GPU with torch)" },
  },
  details: "Results are printed and written as JSON under $TAO_BENCH_OUT (default bench/out).",
  run(args) {
    const which = args.positionals[0]!;
    const script = SCRIPTS[which];
    if (script === undefined) throw new UsageError(`unknown benchmark ${JSON.stringify(which)} (llama or kernels)`);
    const path = join(benchDir, script);
    if (!existsSync(path)) throw new Error(`${path} is missing from this installation`);
    const passed = Object.entries(args.values).filter(([, v]) => typeof v === "string").flatMap(([k, v]) => [`--${k}`, v as string]);
    if (which === "kernels" && passed.length) throw new UsageError("kernels takes no options");
    const run = spawnSync(process.execPath, [path, ...passed], { stdio: "inherit" });
    return run.status ?? 1;
  },
};
