/** Device names: "cpu" or "cuda:N". */
import { invalid } from "./errors.ts";

export type Device = "cpu" | `cuda:${number}`;

/** Normalizes a device string ("cpu", "cuda", "cuda:N") and gives its tao ordinal (-1 for the CPU). */
export function parseDevice(device: string): { device: Device; ordinal: number } {
  if (device === "cpu") return { device: "cpu", ordinal: -1 };
  const m = /^cuda(?::(\d+))?$/.exec(device);
  if (m === null) throw invalid("device", `unknown device ${JSON.stringify(device)} (expected "cpu" or "cuda:N")`);
  const ordinal = Number(m[1] ?? 0);
  return { device: `cuda:${ordinal}`, ordinal };
}
