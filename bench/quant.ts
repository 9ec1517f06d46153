/**
 * Quantize / dequantize throughput of the affine primitives on a Llama-3-8B MLP weight
 * (4096 × 14336, bf16), each setting of bench/settings.ts, beside a device-to-device copy of the
 * same weight measured in the same run: GB/s counts bytes read plus bytes written, and "of copy" is
 * the fraction of the copy's GB/s. Run: `bun bench/quant.ts [--device cuda:0] [--shape N,K]`.
 */
import { parseArgs } from "node:util";
import { chooseQParamsAffine, dequantizeAffine, dtypeSize, quantizeAffine, randn, type Tensor } from "../lib/index.ts";
import { bestDevice, timeOn } from "./harness.ts";
import { report, type Row } from "./report.ts";
import { settings } from "./settings.ts";

const { values } = parseArgs({ options: { device: { type: "string" }, shape: { type: "string", default: "4096,14336" } } });
const device = values.device ?? bestDevice();
const shape = values.shape!.split(",").map(Number);
const numel = shape.reduce((a, b) => a * b, 1);

const w = randn(shape, { dtype: "bf16", device, seed: 1 });
const wBytes = numel * 2;

// Copy ceiling: a device-to-device copy of the weight (host memcpy on the CPU).
const copyDst = w.clone();
const copy = await timeOn(device, () => copyDst.copyFrom(w));
const copyGBs = (2 * wBytes) / (copy.us * 1e3);
const rows: Row[] = [{ op: "copy (ceiling)", setting: "bf16 → bf16", us: copy.us, "GB/s": copyGBs, "of copy": 1 }];

const bytesOf = (t: Tensor | null) => (t ? t.numel * dtypeSize(t.dtype) : 0);
const dispose = (...ts: (Tensor | null)[]) => ts.forEach((t) => t?.dispose());

for (const s of settings) {
  const block = s.block(shape);
  const qopts = { zeroPointDomain: s.opts.zeroPointDomain };
  const { scale, zeroPoint } = chooseQParamsAffine(w, s.mapping, block, s.target, s.opts);
  const q = quantizeAffine(w, block, scale, zeroPoint, s.target, qopts);
  const back = copyDst; // bf16 output buffer of the dequantize
  const qp = bytesOf(scale) + bytesOf(zeroPoint);
  // Outputs are preallocated (`out`), so the timings are the kernels', not the allocator's.
  const measures: [string, () => void, number][] = [
    ["choose_qparams", () => { const r = chooseQParamsAffine(w, s.mapping, block, s.target, s.opts); dispose(r.scale, r.zeroPoint); }, wBytes + qp],
    ["quantize", () => quantizeAffine(w, block, scale, zeroPoint, s.target, { ...qopts, out: q }), wBytes + qp + bytesOf(q)],
    ["dequantize→bf16", () => dequantizeAffine(q, block, scale, zeroPoint, s.target, { ...qopts, outputDtype: "bf16", out: back }), bytesOf(q) + qp + wBytes],
  ];
  for (const [op, fn, bytes] of measures) {
    const t = await timeOn(device, fn);
    const gbs = bytes / (t.us * 1e3);
    rows.push({ op, setting: s.name, us: t.us, "GB/s": gbs, "of copy": gbs / copyGBs });
  }
  dispose(scale, zeroPoint, q);
}

report("quant", `Affine primitives on a ${shape.join("×")} bf16 weight, ${device}`, rows, { shape, device });
