/**
 * The demo (npm run demo): quantize a Llama-3-8B MLP weight (4096 × 14336) with each primitive
 * setting on the best device present and print, per setting, the SQNR of the round trip
 * (dequantize(quantize(w)) against w), the bytes of the quantized weight + qparams at the format's
 * bit width, and the time of choose_qparams + quantize.
 */
import { parseArgs } from "node:util";
import { capabilities, chooseQParamsAffine, dequantizeAffine, dtypeSize, quantizeAffine, randn, sqnr, type Tensor } from "../lib/index.ts";
import { bestDevice, timeOn } from "./harness.ts";
import { report, type Row } from "./report.ts";
import { settings } from "./settings.ts";

const { values } = parseArgs({ options: { device: { type: "string" }, shape: { type: "string", default: "4096,14336" } } });
const device = values.device ?? bestDevice();
const shape = values.shape!.split(",").map(Number);
const caps = capabilities();
const where = device === "cpu" ? `CPU (${caps.cpu.threads} threads)` : `${device} (${caps.cuda.devices[0]?.name})`;
console.log(`tao ${caps.version}: quantizing a ${shape.join("×")} bf16 weight on ${where}`);

const w = randn(shape, { dtype: "bf16", device, seed: 0 });
const numel = w.numel;
const bytesOf = (t: Tensor | null) => (t ? t.numel * dtypeSize(t.dtype) : 0);
const rows: Row[] = [{ setting: "bf16 (reference)", torchao: "-", "SQNR dB": Infinity, MB: (numel * 2) / 1e6, "× smaller": 1, "quantize us": 0 }];

for (const s of settings) {
  const block = s.block(shape);
  const qopts = { zeroPointDomain: s.opts.zeroPointDomain };
  const quantize = () => {
    const { scale, zeroPoint } = chooseQParamsAffine(w, s.mapping, block, s.target, s.opts);
    return { scale, zeroPoint, q: quantizeAffine(w, block, scale, zeroPoint, s.target, qopts) };
  };
  const { scale, zeroPoint, q } = quantize();
  const back = dequantizeAffine(q, block, scale, zeroPoint, s.target, { ...qopts, outputDtype: "bf16" });
  const bytes = (numel * s.bits) / 8 + bytesOf(scale) + bytesOf(zeroPoint);
  const t = await timeOn(device, () => {
    const r = quantize();
    r.scale.dispose(), r.zeroPoint?.dispose(), r.q.dispose();
  });
  rows.push({ setting: s.name, torchao: s.torchao, "SQNR dB": sqnr(w, back), MB: bytes / 1e6, "× smaller": (numel * 2) / bytes, "quantize us": t.us });
  for (const x of [scale, zeroPoint, q, back]) x?.dispose();
}
report("demo", `Quantization primitives on a ${shape.join("×")} weight (${where})`, rows, { shape, device });
