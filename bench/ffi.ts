/**
 * FFI call overhead: tao_noop (no arguments), tao_dtype_size (two scalar/pointer arguments) and
 * tao_cast of 1 element on the CPU context (a real op: validation + dispatch), timed with mitata.
 * Runs under Bun (`bun bench/ffi.ts`) and Deno (`deno run -A bench/ffi.ts`).
 */
import { measure } from "mitata";
import { Context, native, runtime } from "../lib/index.ts";
import { report, type Row } from "./report.ts";

const out = new Int32Array(1);
const src = new Float32Array(1), dst = new Uint16Array(1);
const ctx = Context.get("cpu").handle("bench");
const cases: [string, () => unknown][] = [
  ["js no-op (baseline)", () => out[0]],
  ["tao_noop()", () => native.tao_noop()],
  ["tao_dtype_size(dt, out*)", () => native.tao_dtype_size(2, out)],
  ["tao_cast 1 element, CPU ctx", () => native.tao_cast(ctx, src, 0, dst, 2, 1)],
];
const rows: Row[] = [];
for (const [name, fn] of cases) {
  const st = await measure(fn, { min_cpu_time: 300e6 });
  rows.push({ call: name, runtime, "ns p50": st.p50, "ns avg": st.avg });
}
report(`ffi-${runtime}`, `FFI call overhead (${runtime})`, rows);
