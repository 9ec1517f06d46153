/** `tao info`: what this build and machine can do (capabilities()). */
import { capabilities, type LibraryCapability } from "../runtime.ts";
import { libraryPath, runtime } from "../native/index.ts";
import type { Command } from "./command.ts";

const lib = (name: string, c: LibraryCapability) =>
  `${name}: ${c.available ? `available (${c.version})` : `unavailable (${c.compiled ? "" : "not compiled: "}${c.error})`}`;

/** The report as lines of text. */
function pretty(): string {
  const caps = capabilities();
  const gpus = caps.cuda.devices.map((d) => `  cuda:${d.index} ${d.name}, sm_${d.sm}, ${(d.memory_bytes / 2 ** 30).toFixed(1)} GiB, ${d.multiprocessors} SMs`);
  return [
    `tao ${caps.version} (${runtime}, ${libraryPath})`,
    `cpu: ${caps.cpu.threads} threads, ${caps.cpu.features.join(" ")}`,
    `cuda: ${caps.cuda.compiled ? (gpus.length ? `${gpus.length} device(s)` : `no device (${caps.cuda.error})`) : "not compiled"}`,
    ...gpus,
    lib("cublaslt", caps.cublaslt),
    lib("cusparselt", caps.cusparselt),
  ].join("\n") + "\n";
}

export const infoCommand: Command = {
  name: "info",
  summary: "show the library's capabilities (CPU features, CUDA devices, cuBLASLt, cuSPARSELt)",
  positionals: [],
  options: { json: { type: "boolean", help: "print capabilities() as JSON" } },
  run(args) {
    process.stdout.write(args.values.json ? JSON.stringify(capabilities(), null, 2) + "\n" : pretty());
    return 0;
  },
};
