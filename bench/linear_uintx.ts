/**
 * uintx linear (uintxWeightOnly: 1- to 7-bit weights, scale and zero point per group, tao_linear_uintx)
 * on the Llama shapes of issue 10, (N, K) = (28672, 4096) and (4096, 14336), beside our bf16 linear
 * (cuBLASLt) in the same run. "of bound" is the fraction of the weight bytes (the packed values plus the
 * bf16 scale and zero point of every group) read at 3.0 TB/s, the memory bound at M = 1 (meaningful at
 * small M only; the issue asks 0.75). The weights are torchao-style RTN uintx of N(0, 0.02) values.
 * Run: `bun bench/linear_uintx.ts [--device cuda:0] [--m 1,8] [--bits 2,3,4,5,6] [--group 64]`.
 */
import { parseArgs } from "node:util";
import { empty, linear, randn, uintxWeightOnly } from "../lib/index.ts";
import { bestDevice, timeOn } from "./harness.ts";
import { report, type Row } from "./report.ts";

const { values } = parseArgs({ options: { device: { type: "string" }, m: { type: "string" }, bits: { type: "string" }, group: { type: "string" } } });
const device = values.device ?? bestDevice();
const onGpu = device !== "cpu";
const list = (v: string | undefined, fallback: string) => (v ?? fallback).split(",").map(Number);
const ms = list(values.m, onGpu ? "1,8" : "1,16");
const bitsList = list(values.bits, "2,3,4,5,6");
const groups = list(values.group, onGpu ? "64,128" : "64");
const nk: [number, number][] = onGpu ? [[28672, 4096], [4096, 14336]] : [[1024, 4096]];
const BOUND_BYTES_PER_S = 3.0e12;

const rows: Row[] = [];
for (const [n, k] of nk) {
  using wbf16 = randn([n, k], { dtype: "bf16", device, seed: 4, std: 0.02 });
  const dense = new Map<number, number>();
  for (const m of ms) {
    using x = randn([m, k], { dtype: "bf16", device, seed: 5 });
    using y = empty([m, n], { dtype: "bf16", device });
    dense.set(m, (await timeOn(device, () => linear(x, wbf16, null, { out: y }))).us);
  }
  for (const groupSize of groups) {
    for (const bits of bitsList) {
      using w = uintxWeightOnly({ bits, groupSize }).quantizeWeight(wbf16);
      const bytes = Object.values(w.storage).reduce((s, t) => s + t.nbytes, 0);
      for (const m of ms) {
        using x = randn([m, k], { dtype: "bf16", device, seed: 5 });
        using y = empty([m, n], { dtype: "bf16", device });
        const t = await timeOn(device, () => linear(x, w, null, { out: y }));
        const bf16 = dense.get(m)!;
        rows.push({
          scheme: `uint${bits} g${groupSize}`, m, n, k, us: t.us, "weight MB": bytes / 1e6, "GB/s": bytes / (t.us * 1e3),
          "of bound": bytes / BOUND_BYTES_PER_S / (t.us * 1e-6), "bf16 us": bf16, "× bf16": bf16 / t.us,
        });
      }
    }
  }
}
report(`linear-uintx-${device.replace(":", "")}`, `uintx weight-only linear (bf16 x) on ${device}`, rows, { device, boundBytesPerS: BOUND_BYTES_PER_S });
