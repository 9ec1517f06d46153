/**
 * The PyTorch peer of bench/llama.ts (bench/peers/llama.py: the same Llama in PyTorch, decode step
 * under torch.compile "max-autotune" with CUDA graphs, bf16 and tinygemm int4): runs it, or reads a
 * result it wrote earlier, and says why not when it cannot run (no python3, no torch, no CUDA).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { LlamaConfig } from "../lib/index.ts";

/** One scheme's result (bench/peers/llama.py's JSON). */
export interface PeerScheme {
  tok_s: number;
  step_ms: number;
  compile_s: number;
  weights_gb: number;
  peak_gb: number;
  cudagraph_skips: number;
}

/** The peer's JSON: versions, compile mode and a result per scheme name. */
export interface LlamaPeer {
  torch: string;
  gpu: string;
  mode: string;
  steps: number;
  schemes: Record<string, PeerScheme>;
}

/** The schemes the peer implements: bf16 and tinygemm int4 of any group size. */
export const peerSchemes = (names: string[]): string[] => names.filter((n) => /^(bf16|int4wo-\d+)$/.test(n));

/** Reads a result file of bench/peers/llama.py. */
export function readPeer(path: string): LlamaPeer {
  return JSON.parse(readFileSync(path, "utf8")) as LlamaPeer;
}

/**
 * Runs bench/peers/llama.py with `python` (default $TAO_PYTHON, else python3) for `schemes` of
 * `config`, at most `timeoutS` seconds; its stderr (progress, compile logs) goes to `log` when given.
 * Returns the result, or the reason it did not run as `{ skipped }`.
 */
export function runPeer(config: LlamaConfig, schemes: string[], steps: number, timeoutS: number, log?: string,
  python = process.env.TAO_PYTHON ?? "python3"): LlamaPeer | { skipped: string } {
  const script = join(dirname(fileURLToPath(import.meta.url)), "peers", "llama.py");
  const dir = mkdtempSync(join(tmpdir(), "tao-llama-peer-"));
  try {
    const out = join(dir, "peer.json");
    const r = spawnSync(python, [script, "--config", JSON.stringify(config), "--schemes", schemes.join(","), "--steps", String(steps), "--out", out], {
      encoding: "utf8", timeout: timeoutS * 1e3, stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, PYTHONUNBUFFERED: "1" },
    });
    if (log !== undefined) writeFileSync(log, r.stderr ?? "");
    if (r.error !== undefined && !r.signal) return { skipped: `${python}: ${r.error.message}` };  // not found or not runnable
    if (r.status !== 0) {
      const last = (r.stderr ?? "").trim().split("\n").pop() ?? "";
      const how = r.status === null ? `was stopped by ${r.signal} (limit ${timeoutS} s)` : `exited with ${r.status}`;
      return { skipped: `${python} bench/peers/llama.py ${how}: ${last}` };
    }
    return readPeer(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
