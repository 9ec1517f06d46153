/**
 * int4 weight-only linear (tensor-core-tiled layout, g128 by default) at decode-sized M on the
 * Llama-3-8B shapes, beside our bf16 linear (cuBLASLt) and PyTorch's tinygemm
 * (_weight_int4pack_mm, bench/peers/tinygemm.py) in the same run. "of bound" is the fraction of
 * (packed weight + scales/zeros bytes) / 3.0 TB/s, the memory bound for M = 1.
 * Run: `bun bench/linear_int4.ts [--device cuda:0] [--group 128] [--m 1,2,4,8,16]`.
 */
import { parseArgs } from "node:util";
import { spawnSync } from "node:child_process";
import { empty, fromArray, linear, linearInt4TensorCoreTiled, packInt4TensorCoreTiled, randn } from "../lib/index.ts";
import { bestDevice, timeOn } from "./harness.ts";
import { report, type Row } from "./report.ts";

const { values } = parseArgs({ options: { device: { type: "string" }, group: { type: "string", default: "128" }, m: { type: "string" } } });
const device = values.device ?? bestDevice();
const group = Number(values.group);
const onGpu = device !== "cpu";
const ms = (values.m ?? (onGpu ? "1,2,4,8,16" : "1,4")).split(",").map(Number);
const nk: [number, number][] = onGpu ? [[6144, 4096], [4096, 4096], [28672, 4096], [4096, 14336]] : [[1024, 4096]];
const shapes = nk.flatMap(([n, k]) => ms.map((m) => [m, n, k] as [number, number, number]));
const BOUND_BYTES_PER_S = 3.0e12;

let peer: Map<string, number> | null = null;
if (onGpu) {
  const r = spawnSync("python3", [new URL("./peers/tinygemm.py", import.meta.url).pathname, JSON.stringify(shapes), String(group), "8"], { encoding: "utf8" });
  if (r.status === 0) peer = new Map(JSON.parse(r.stdout).rows.map((x: { m: number; n: number; k: number; us: number }) => [`${x.m},${x.n},${x.k}`, x.us]));
  else console.log(`(tinygemm peer not run: ${(r.stderr || r.error?.message || "").trim().split("\n").pop()})`);
}

const rows: Row[] = [];
for (const [n, k] of nk) {
  using q = fromArray(Uint8Array.from({ length: n * k }, (_, i) => (i * 7919) % 16), { shape: [n, k], device });
  using packed = packInt4TensorCoreTiled(q, 8);
  using sz = randn([k / group, n, 2], { dtype: "bf16", device, seed: 3, std: 0.01 });
  using wbf16 = randn([n, k], { dtype: "bf16", device, seed: 4 });
  const bytes = (n * k) / 2 + sz.numel * 2;
  for (const m of ms) {
    using x = randn([m, k], { dtype: "bf16", device, seed: 5 });
    using y = empty([m, n], { dtype: "bf16", device });
    const t = await timeOn(device, () => linearInt4TensorCoreTiled(x, packed, sz, group, null, { out: y }));
    const dense = await timeOn(device, () => linear(x, wbf16, null, { out: y }));
    const row: Row = { m, n, k, us: t.us, "of bound": bytes / BOUND_BYTES_PER_S / (t.us * 1e-6), "bf16 us": dense.us, "× bf16": dense.us / t.us };
    if (peer) row["tinygemm us"] = peer.get(`${m},${n},${k}`) ?? NaN, row["× tinygemm"] = (peer.get(`${m},${n},${k}`) ?? NaN) / t.us;
    rows.push(row);
  }
}
report(`linear-int4-g${group}-${device.replace(":", "")}`, `int4 weight-only linear (tensor-core-tiled, g${group}) on ${device}`, rows, { group, device });
