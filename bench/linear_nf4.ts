/**
 * NF4 linear (linearNf4: QLoRA's NF4 weight, block 64, double-quantized scales) on the Llama shapes of
 * issue 10, (N, K) = (28672, 4096) and (4096, 14336), beside our bf16 linear (cuBLASLt). "of bound" is
 * the fraction of the weight bytes (packed nibbles + i8 block scales + f32 group scale/offset) read at
 * 3.0 TB/s, the memory bound at M = 1 (meaningful at small M only). The weight is a real NF4
 * quantization of N(0, 0.02) values.
 * Run: `bun bench/linear_nf4.ts [--device cuda:0] [--m 1,8,64]`.
 */
import { parseArgs } from "node:util";
import { empty, linear, linearNf4, nf4Pack, nf4Quantize, randn } from "../lib/index.ts";
import { bestDevice, timeOn } from "./harness.ts";
import { report, type Row } from "./report.ts";

const { values } = parseArgs({ options: { device: { type: "string" }, m: { type: "string" } } });
const device = values.device ?? bestDevice();
const onGpu = device !== "cpu";
const ms = (values.m ?? (onGpu ? "1,8,64" : "1,16")).split(",").map(Number);
const nk: [number, number][] = onGpu ? [[28672, 4096], [4096, 14336]] : [[1024, 4096]];
const BOUND_BYTES_PER_S = 3.0e12;

const rows: Row[] = [];
for (const [n, k] of nk) {
  using wbf16 = randn([n, k], { dtype: "bf16", device, seed: 4, std: 0.02 });
  const plain = nf4Quantize(wbf16);
  const w = nf4Pack(plain);
  plain.codes.dispose();
  plain.absmax.dispose();
  const bytes = w.packed.numel + w.qscale.numel + 4 * (w.scale2.numel + w.offset.numel);
  for (const m of ms) {
    using x = randn([m, k], { dtype: "bf16", device, seed: 5 });
    using y = empty([m, n], { dtype: "bf16", device });
    const dense = await timeOn(device, () => linear(x, wbf16, null, { out: y }));
    const t = await timeOn(device, () => linearNf4(x, w, null, { out: y }));
    rows.push({ scheme: "nf4", m, n, k, us: t.us, "of bound": bytes / BOUND_BYTES_PER_S / (t.us * 1e-6), "bf16 us": dense.us, "× bf16": dense.us / t.us });
  }
  for (const t of Object.values(w)) t.dispose();
}
report(`linear-nf4-${device.replace(":", "")}`, `NF4 weight-only linear (bf16 x) on ${device}`, rows, { device, boundBytesPerS: BOUND_BYTES_PER_S });
