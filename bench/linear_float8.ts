/**
 * Float8 dynamic linear (float8DynamicActivationFloat8Weight) on the Llama-3-8B shapes: activation
 * quantization (quantizeFloat8) + the FP8 GEMM (linearFloat8) end to end, row-wise and per tensor,
 * beside our bf16 linear (cuBLASLt) and, on a GPU, the PyTorch peers of the same run
 * (bench/peers/scaled_mm.py: torch._scaled_mm alone, without quantization, and F.linear).
 * "gemm us" is our FP8 GEMM alone (inputs already quantized), comparable to torch._scaled_mm.
 * Run: `bun bench/linear_float8.ts [--device cuda:0] [--m 16,2048] [--fast-accum]`.
 * TAO_F8_EPILOGUE=1 sends the row-wise GEMM through the f32-scratch + epilogue path instead of
 * cuBLASLt's outer-vector scales (to compare the two).
 */
import { parseArgs } from "node:util";
import { spawnSync } from "node:child_process";
import { empty, linear, linearFloat8, quantizeFloat8, randn } from "../lib/index.ts";
import { bestDevice, timeOn } from "./harness.ts";
import { report, type Row } from "./report.ts";

const { values } = parseArgs({ options: { device: { type: "string" }, m: { type: "string" }, "fast-accum": { type: "boolean", default: false } } });
const device = values.device ?? bestDevice();
const onGpu = device !== "cpu";
const fastAccum = values["fast-accum"]!;
const ms = (values.m ?? (onGpu ? "16,256,2048,4096" : "1,16")).split(",").map(Number);
const nk: [number, number][] = onGpu ? [[6144, 4096], [4096, 4096], [28672, 4096], [4096, 14336]] : [[256, 1024]];
const shapes = nk.flatMap(([n, k]) => ms.map((m) => [m, n, k] as [number, number, number]));
const epilogue = (globalThis.process?.env?.TAO_F8_EPILOGUE ?? "") === "1";

interface Peer { row_us: number; tensor_us: number; bf16_us: number }
let peers: Map<string, Peer> | null = null;
if (onGpu) {
  const r = spawnSync("python3", [new URL("./peers/scaled_mm.py", import.meta.url).pathname, JSON.stringify(shapes), fastAccum ? "1" : "0"], { encoding: "utf8" });
  if (r.status === 0) peers = new Map(JSON.parse(r.stdout).rows.map((x: Peer & { m: number; n: number; k: number }) => [`${x.m},${x.n},${x.k}`, x]));
  else console.log(`(PyTorch peers not run: ${(r.stderr || r.error?.message || "").trim().split("\n").pop()})`);
}

const rows: Row[] = [];
for (const [n, k] of nk) {
  using w = randn([n, k], { dtype: "bf16", device, seed: 4 });
  const wRow = quantizeFloat8(w, { rowwise: true }), wTen = quantizeFloat8(w, { rowwise: false });
  for (const m of ms) {
    using x = randn([m, k], { dtype: "bf16", device, seed: 5 });
    using y = empty([m, n], { dtype: "bf16", device });
    using xq = empty([m, k], { dtype: "f8e4m3fn", device });
    using xsRow = empty([m, 1], { dtype: "f32", device });
    using xsTen = empty([1, 1], { dtype: "f32", device });
    const dense = await timeOn(device, () => linear(x, w, null, { out: y }));
    const p = peers?.get(`${m},${n},${k}`);
    for (const [scheme, rowwise, wt] of [["row", true, wRow], ["tensor", false, wTen]] as const) {
      const xs = rowwise ? xsRow : xsTen;
      const qOut = { q: xq, scale: xs };
      const end = await timeOn(device, () => {
        quantizeFloat8(x, { rowwise, out: qOut });
        linearFloat8(xq, xs, wt.q, wt.scale, null, { out: y, fastAccum });
      });
      const gemm = await timeOn(device, () => linearFloat8(xq, xs, wt.q, wt.scale, null, { out: y, fastAccum }));
      const flops = 2 * m * n * k;
      const row: Row = {
        scheme: scheme + (epilogue && rowwise ? " (epilogue)" : ""), m, n, k, "e2e us": end.us, "gemm us": gemm.us,
        "quant us": end.us - gemm.us, "TFLOP/s": flops / (end.us * 1e-6) / 1e12, "bf16 us": dense.us, "× bf16": dense.us / end.us,
      };
      if (p) {
        const peer = rowwise ? p.row_us : p.tensor_us;
        Object.assign(row, { "torch mm us": peer, "gemm × torch": peer / gemm.us, "torch bf16 us": p.bf16_us });
      }
      rows.push(row);
    }
  }
  for (const t of [wRow.q, wRow.scale, wTen.q, wTen.scale]) t.dispose();
}
report(`linear-float8-${device.replace(":", "")}${fastAccum ? "-fast" : ""}${epilogue ? "-epilogue" : ""}`,
  `float8 dynamic linear (activation quantization + FP8 GEMM, bf16 out${fastAccum ? ", fast accumulation" : ""}) on ${device}`, rows,
  { device, fastAccum, epilogue, peers: "torch mm: torch._scaled_mm alone on pre-quantized e4m3 inputs (no activation quantization)" });
