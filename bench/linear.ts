/**
 * Dense linear y = x · wᵀ (tao_linear: on CUDA a warp-per-column GEMV at m = 1 and cuBLASLt above,
 * the blocked AVX-512/AVX2 kernel on the CPU) on Llama-3-8B shapes (N, K) and a range of M, as µs,
 * TFLOP/s, fraction of the chip's bf16 peak, at m = 1 the fraction of the weight-bytes bound
 * (n·k·2 / 3.0 TB/s), and, on a GPU with PyTorch, the ratio to PyTorch's F.linear (cuBLAS;
 * bench/peers/linear.py) in the same run.
 * Run: `bun bench/linear.ts [--device cuda:0] [--dtype bf16] [--m 1,16,128,1024,4096]`.
 */
import { parseArgs } from "node:util";
import { spawnSync } from "node:child_process";
import { empty, linear, randn, type DType } from "../lib/index.ts";
import { bestDevice, timeOn } from "./harness.ts";
import { report, type Row } from "./report.ts";

const { values } = parseArgs({
  options: { device: { type: "string" }, dtype: { type: "string", default: "bf16" }, m: { type: "string" }, shapes: { type: "string" } },
});
const device = values.device ?? bestDevice();
const dtype = values.dtype as DType;
const onGpu = device !== "cpu";
const ms = (values.m ?? (onGpu ? "1,16,128,1024,4096" : "1,16,128")).split(",").map(Number);
const nk: [number, number][] = values.shapes
  ? values.shapes.split(";").map((s) => s.split(",").map(Number) as [number, number])
  : onGpu ? [[6144, 4096], [4096, 4096], [28672, 4096], [4096, 14336]] : [[4096, 4096], [1024, 4096]];
const shapes = nk.flatMap(([n, k]) => ms.map((m) => [m, n, k] as [number, number, number]));

// Peak dense bf16/f16 tensor throughput of the H100 SXM (datasheet, without sparsity), for the
// "of peak" column on that card; CPU rows report TFLOP/s only.
const PEAK_TFLOPS = 989;

let peer: Map<string, number> | null = null;
if (onGpu) {
  const r = spawnSync("python3", [new URL("./peers/linear.py", import.meta.url).pathname, JSON.stringify(shapes), dtype], { encoding: "utf8" });
  if (r.status === 0) peer = new Map(JSON.parse(r.stdout).rows.map((x: { m: number; n: number; k: number; us: number }) => [`${x.m},${x.n},${x.k}`, x.us]));
  else console.log(`(PyTorch peer not run: ${(r.stderr || r.error?.message || "").trim().split("\n").pop()})`);
}

const rows: Row[] = [];
for (const [m, n, k] of shapes) {
  using x = randn([m, k], { dtype, device, seed: 1 });
  using w = randn([n, k], { dtype, device, seed: 2 });
  using y = empty([m, n], { dtype, device });
  const t = await timeOn(device, () => linear(x, w, null, { out: y }));
  const tflops = (2 * m * n * k) / (t.us * 1e6);
  const row: Row = { m, n, k, us: t.us, "TFLOP/s": tflops };
  if (onGpu) row["of peak"] = tflops / PEAK_TFLOPS;
  if (onGpu && m === 1) row["of bound"] = (n * k * 2) / 3.0e12 / (t.us * 1e-6);
  if (peer) row["torch us"] = peer.get(`${m},${n},${k}`) ?? NaN, row["torch / tao"] = (peer.get(`${m},${n},${k}`) ?? NaN) / t.us;
  rows.push(row);
}
report(`linear-${dtype}-${device.replace(":", "")}`, `Dense linear (${dtype}) on ${device}`, rows, { dtype, device });
