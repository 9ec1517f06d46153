/**
 * W8A8 int8 linear (torchao's int8_dynamic_activation_int8_weight) end to end: quantizeRowsInt8 of the
 * bf16 activations + linearInt8Int8 (int8 tensor-core GEMM into int32, rescale, bf16 out), beside our
 * bf16 linear (cuBLASLt) on the Llama-3-8B shapes; also the two parts alone. On a GPU the PyTorch
 * peers of the same run (bench/peers/int_mm.py): torch._int_mm alone (no quantization, no rescale),
 * torchao's eager W8A8 formula, F.linear bf16. On the CPU: (4096, 4096) at M = 128 against our f32
 * linear (the issue's CPU goal) and bf16 linear.
 * Run: `bun bench/linear_w8a8.ts [--device cuda:0] [--m 16,256]`. TAO_W8A8_CHUNK_ROWS (read by
 * libtao) splits the GEMM into row chunks; the report's name carries its value.
 */
import { parseArgs } from "node:util";
import { spawnSync } from "node:child_process";
import { empty, fromArray, linear, linearInt8Int8, quantizeRowsInt8, randn, type DType } from "../lib/index.ts";
import { bestDevice, timeOn } from "./harness.ts";
import { report, type Row } from "./report.ts";

const { values } = parseArgs({ options: { device: { type: "string" }, m: { type: "string" } } });
const device = values.device ?? bestDevice();
const onGpu = device !== "cpu";
const ms = (values.m ?? (onGpu ? "16,256,2048,4096" : "128")).split(",").map(Number);
const nk: [number, number][] = onGpu ? [[6144, 4096], [4096, 4096], [28672, 4096], [4096, 14336]] : [[4096, 4096]];
const shapes = nk.flatMap(([n, k]) => ms.map((m) => [m, n, k] as [number, number, number]));
const chunk = process.env.TAO_W8A8_CHUNK_ROWS ?? "0";

interface Peer { bf16_us: number; int_mm_us?: number; w8a8_eager_us?: number; error?: string }
let peers: Map<string, Peer> | null = null;
if (onGpu) {
  const r = spawnSync("python3", [new URL("./peers/int_mm.py", import.meta.url).pathname, JSON.stringify(shapes)], { encoding: "utf8" });
  if (r.status === 0) peers = new Map(JSON.parse(r.stdout).rows.map((x: Peer & { m: number; n: number; k: number }) => [`${x.m},${x.n},${x.k}`, x]));
  else console.log(`(PyTorch peers not run: ${(r.stderr || r.error?.message || "").trim().split("\n").pop()})`);
}

const rows: Row[] = [];
const denseDtypes: DType[] = onGpu ? ["bf16"] : ["f32", "bf16"];
for (const [n, k] of nk) {
  using wq = fromArray(Int8Array.from({ length: n * k }, (_, i) => ((i * 7919) % 255) - 127), { shape: [n, k], device });
  using ws = randn([n], { device, seed: 6, mean: 0.01, std: 0.001 });
  const dense = new Map(denseDtypes.map((d) => [d, randn([n, k], { dtype: d, device, seed: 4 })]));
  for (const m of ms) {
    using x = randn([m, k], { dtype: "bf16", device, seed: 5 });
    using y = empty([m, n], { dtype: "bf16", device });
    const { q, scale } = quantizeRowsInt8(x);
    const tQuant = await timeOn(device, () => {
      const r = quantizeRowsInt8(x);
      r.q.dispose(), r.scale.dispose();
    });
    const tGemm = await timeOn(device, () => linearInt8Int8(q, scale, wq, ws, null, { out: y }));
    const tAll = await timeOn(device, () => {
      const r = quantizeRowsInt8(x);
      linearInt8Int8(r.q, r.scale, wq, ws, null, { out: y });
      r.q.dispose(), r.scale.dispose();
    });
    q.dispose(), scale.dispose();
    const flops = 2 * m * n * k;
    const row: Row = { m, n, k, "w8a8 us": tAll.us, "TOP/s": flops / (tAll.us * 1e6), "quant us": tQuant.us, "gemm+rescale us": tGemm.us };
    for (const [d, w] of dense) {
      using xd = d === "bf16" ? x.clone() : x.cast(d);
      using yd = empty([m, n], { dtype: d, device });
      const t = await timeOn(device, () => linear(xd, w, null, { out: yd }));
      Object.assign(row, { [`${d} us`]: t.us, [`× ${d}`]: t.us / tAll.us });
    }
    const p = peers?.get(`${m},${n},${k}`);
    if (p?.int_mm_us) Object.assign(row, { "torch _int_mm us": p.int_mm_us, "_int_mm × torch bf16": p.bf16_us / p.int_mm_us, "torch w8a8 eager us": p.w8a8_eager_us, "torch bf16 us": p.bf16_us });
    else if (p) Object.assign(row, { "torch bf16 us": p.bf16_us, "torch note": p.error ?? "" });
    rows.push(row);
  }
  for (const w of dense.values()) w.dispose();
}
report(`linear-w8a8-${device.replace(":", "")}${chunk !== "0" ? `-chunk${chunk}` : ""}`, `W8A8 int8 linear (quantize + int8 GEMM + rescale) on ${device}${chunk !== "0" ? `, GEMM in chunks of ${chunk} rows` : ""}`, rows,
  { device, chunkRows: Number(chunk), peers: "torch._int_mm alone (int8 in, int32 out); torchao eager W8A8 formula; F.linear bf16" });
