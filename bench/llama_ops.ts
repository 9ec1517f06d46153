/**
 * Attention at Llama-3-8B shapes (Hq 32, Hkv 8, Dh 128, bf16): decode (one query against a static KV
 * cache of 512 / 2048 / 8192 rows, batch 1 and 8; split-K flash-decoding on CUDA) as µs, GB/s and the
 * fraction of the KV-cache bytes / 3.0 TB/s bound, and causal prefill of 512 tokens as TFLOP/s.
 * Run: `bun bench/llama_ops.ts [--device cuda:0]`; JSON under $TAO_BENCH_OUT.
 */
import { parseArgs } from "node:util";
import { attention, empty, fromArray, randn } from "../lib/index.ts";
import { bestDevice, timeOn } from "./harness.ts";
import { report, type Row } from "./report.ts";

const { values } = parseArgs({ options: { device: { type: "string" } } });
const device = values.device ?? bestDevice();
const onGpu = device !== "cpu";
const [hq, hkv, dh, dtype] = [32, 8, 128, "bf16"] as const;
const HBM_BYTES_PER_S = 3.0e12; // H100 SXM HBM3 datasheet

const rows: Row[] = [];
for (const batch of onGpu ? [1, 8] : [1]) {
  for (const len of onGpu ? [512, 2048, 8192] : [512, 2048]) {
    using q = randn([batch, 1, hq, dh], { dtype, device, seed: 1 });
    using k = randn([batch, len, hkv, dh], { dtype, device, seed: 2 });
    using v = randn([batch, len, hkv, dh], { dtype, device, seed: 3 });
    using out = empty([batch, 1, hq, dh], { dtype, device });
    using position = fromArray(new Int32Array([len - 1]), { device });
    const t = await timeOn(device, () => attention(q, k, v, { position, out }));
    const bytes = 2 * k.nbytes;
    const row: Row = { phase: "decode", batch, "kv len": len, us: t.us, "GB/s": bytes / (t.us * 1e3) };
    if (onGpu) row["of bound"] = bytes / HBM_BYTES_PER_S / (t.us * 1e-6);
    rows.push(row);
  }
}
for (const batch of [1]) {
  const len = onGpu ? 512 : 128;
  using q = randn([batch, len, hq, dh], { dtype, device, seed: 1 });
  using k = randn([batch, len, hkv, dh], { dtype, device, seed: 2 });
  using v = randn([batch, len, hkv, dh], { dtype, device, seed: 3 });
  using out = empty([batch, len, hq, dh], { dtype, device });
  const t = await timeOn(device, () => attention(q, k, v, { out }));
  const flops = 4 * batch * hq * dh * (len * (len + 1)) / 2; // QKᵀ and PV over the causal triangle
  rows.push({ phase: "prefill", batch, "kv len": len, us: t.us, "TFLOP/s": flops / (t.us * 1e6) });
}
report(`llama-ops-attention-${device.replace(":", "")}`, `Attention at Llama-3-8B shapes (bf16) on ${device}`, rows, { device, hq, hkv, dh, dtype });
