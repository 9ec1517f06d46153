/**
 * Autoquant's timing cache: microseconds per (candidate, shapes, dtype, mode, device name, library
 * version), kept in memory for the process and, with a path, in a JSON file, so a second run on the
 * same machine measures nothing. torchao keeps its cache in memory only.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { invalid } from "../../errors.ts";
import { capabilities, version } from "../../runtime.ts";
import type { RecordedShape } from "./recording_weight.ts";
import type { AutoquantCandidate } from "./candidates.ts";

const FORMAT = "tao-autoquant-timings/1";
const memory = new Map<string, number>();

/** What a device is called in cache keys: the GPU's name, or the CPU's features and thread count. */
export function deviceName(device: string): string {
  const caps = capabilities();
  if (device === "cpu") return `cpu ${caps.cpu.features.join(",")} x${caps.cpu.threads}`;
  const ordinal = Number(device.split(":")[1] ?? 0);
  const d = caps.cuda.devices[ordinal];
  return d === undefined ? device : `${d.name} sm${d.sm}`;
}

/** Forgets the timings of this process (files are left as they are). */
export function clearAutoquantTimings(): void {
  memory.clear();
}

/** The key of one timing. `mode` is the autoquant mode as text (interpolated times depend on it). */
export function timingKey(c: AutoquantCandidate, s: RecordedShape, mode: string, device: string): string {
  return JSON.stringify([
    c.name, c.config?.record ?? null, s.x, s.weight, s.bias, s.dtype, mode, deviceName(device), version(),
  ]);
}

/** The timings of this process, backed by a JSON file when `path` is given. */
export class TimingCache {
  /** Timings read from or written to the file (a subset of the process's). */
  readonly #file = new Map<string, number>();

  constructor(readonly path: string | null) {
    if (path === null || !existsSync(path)) return;
    const json = JSON.parse(readFileSync(path, "utf8")) as { format?: string; timings?: Record<string, number> };
    if (json.format !== FORMAT || typeof json.timings !== "object") throw invalid("autoquant", `${path} is not a ${FORMAT} file`);
    for (const [k, us] of Object.entries(json.timings)) {
      this.#file.set(k, us);
      memory.set(k, us);
    }
  }

  /** The cached microseconds of `key`, or undefined; a hit from memory goes into the file too. */
  get(key: string): number | undefined {
    const us = memory.get(key);
    if (us !== undefined) this.#file.set(key, us);
    return us;
  }

  /** Stores a measured timing. */
  set(key: string, us: number): void {
    memory.set(key, us);
    this.#file.set(key, us);
  }

  /** Writes the file (when there is a path), with every timing it had plus the new ones. */
  save(): void {
    if (this.path === null) return;
    writeFileSync(this.path, JSON.stringify({ format: FORMAT, timings: Object.fromEntries(this.#file) }, null, 1));
  }
}
