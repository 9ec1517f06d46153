/**
 * Weight-only linear on the Llama-3-8B shapes for every M of issue 3: int4 (tensor-core-tiled,
 * g128 by default) and int8 (per channel), beside our bf16 linear (the GEMV at m = 1, cuBLASLt above)
 * and, on a GPU, the PyTorch peers of the same run (bench/peers/weight_only.py: tinygemm, torchao's
 * int8 eager formula, F.linear = cuBLAS bf16: the "× cuBLAS" column). "of bound" is the fraction of (weight + scale bytes) / 3.0 TB/s, the memory
 * bound at M = 1 (meaningful at small M only).
 * Run: `bun bench/linear_weight_only.ts [--device cuda:0] [--group 128] [--m 1,16]`.
 */
import { parseArgs } from "node:util";
import { spawnSync } from "node:child_process";
import { empty, fromArray, linear, linearInt4TensorCoreTiled, linearInt8WeightOnly, packInt4TensorCoreTiled, randn } from "../lib/index.ts";
import { bestDevice, timeOn } from "./harness.ts";
import { report, type Row } from "./report.ts";

const { values } = parseArgs({ options: { device: { type: "string" }, group: { type: "string", default: "128" }, m: { type: "string" } } });
const device = values.device ?? bestDevice();
const group = Number(values.group);
const onGpu = device !== "cpu";
const ms = (values.m ?? (onGpu ? "1,2,4,8,16,32,64,128,256,1024,4096" : "1,16,256")).split(",").map(Number);
const nk: [number, number][] = onGpu ? [[6144, 4096], [4096, 4096], [28672, 4096], [4096, 14336]] : [[1024, 4096]];
const shapes = nk.flatMap(([n, k]) => ms.map((m) => [m, n, k] as [number, number, number]));
const BOUND_BYTES_PER_S = 3.0e12;

interface Peer { tinygemm_us: number; int8_us: number; bf16_us: number }
let peers: Map<string, Peer> | null = null;
if (onGpu) {
  const r = spawnSync("python3", [new URL("./peers/weight_only.py", import.meta.url).pathname, JSON.stringify(shapes), String(group), "8"], { encoding: "utf8" });
  if (r.status === 0) peers = new Map(JSON.parse(r.stdout).rows.map((x: Peer & { m: number; n: number; k: number }) => [`${x.m},${x.n},${x.k}`, x]));
  else console.log(`(PyTorch peers not run: ${(r.stderr || r.error?.message || "").trim().split("\n").pop()})`);
}

const rows: Row[] = [];
for (const [n, k] of nk) {
  using q4 = fromArray(Uint8Array.from({ length: n * k }, (_, i) => (i * 7919) % 16), { shape: [n, k], device });
  using packed = packInt4TensorCoreTiled(q4, 8);
  using sz = randn([k / group, n, 2], { dtype: "bf16", device, seed: 3, std: 0.01 });
  using q8 = fromArray(Int8Array.from({ length: n * k }, (_, i) => ((i * 7919) % 256) - 128), { shape: [n, k], device });
  using s8 = randn([n], { dtype: "bf16", device, seed: 6, mean: 0.01, std: 0.001 });
  using wbf16 = randn([n, k], { dtype: "bf16", device, seed: 4 });
  const bytes4 = (n * k) / 2 + sz.numel * 2, bytes8 = n * k + n * 2;
  for (const m of ms) {
    using x = randn([m, k], { dtype: "bf16", device, seed: 5 });
    using y = empty([m, n], { dtype: "bf16", device });
    const dense = await timeOn(device, () => linear(x, wbf16, null, { out: y }));
    const t4 = await timeOn(device, () => linearInt4TensorCoreTiled(x, packed, sz, group, null, { out: y }));
    const t8 = await timeOn(device, () => linearInt8WeightOnly(x, q8, s8, null, { out: y }));
    const p = peers?.get(`${m},${n},${k}`);
    for (const [scheme, t, bytes, peer] of [["int4", t4, bytes4, p?.tinygemm_us], ["int8", t8, bytes8, p?.int8_us]] as const) {
      const row: Row = { scheme, m, n, k, us: t.us, "of bound": bytes / BOUND_BYTES_PER_S / (t.us * 1e-6), "bf16 us": dense.us, "× bf16": dense.us / t.us };
      if (p) Object.assign(row, { "torch us": peer!, "× torch": peer! / t.us, "torch bf16 us": p.bf16_us, "× cuBLAS": p.bf16_us / t.us });
      rows.push(row);
    }
  }
}
report(`linear-weight-only-g${group}-${device.replace(":", "")}`, `weight-only linear (int4 tensor-core-tiled g${group}, int8 per channel) on ${device}`, rows, { group, device, peers: "torch int4: tinygemm _weight_int4pack_mm; torch int8: torchao's eager mm(x, q.to(bf16)) * scale" });
