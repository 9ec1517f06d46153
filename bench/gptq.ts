/**
 * GPTQ of one Llama-3-8B-shaped decoder layer (issue 10): q 4096×4096, k and v 1024×4096, o 4096×4096,
 * gate and up 14336×4096, down 4096×14336, synthetic bf16 weights (N(0, 0.02)) and 512 calibration
 * tokens of synthetic bf16 activations (N(0, 1)) per layer, int4 g128, block 128. Per Linear, as gptq()
 * runs it: the Hessian (tao_gptq_hessian over the 512 rows), the factor (tao_gptq_factor: act-order
 * permutation when asked, damping, f64 Cholesky + triangular inverse), the sweep (tao_gptq_quantize).
 * CUDA: medians of CUDA-event samples with L2 flushed; the factor's time includes its one-word status
 * read-back. TFLOP/s count useful flops: Hessian 2·T·K², factor (2/3)·K³ (Cholesky K³/3, triangular
 * inverse K³/3), sweep N·K². "solve s" is gptqSolve end to end (factor + sweep + the codes copied to the
 * host for int4Weight), wall clock. On the CPU the shapes are divided by 8 (a smoke run).
 * Run: `bun bench/gptq.ts [--device cuda:0] [--tokens 512] [--act-order]`.
 */
import { parseArgs } from "node:util";
import { Context, empty, randn, type Tensor } from "../lib/index.ts";
import { gptqFactor, gptqHessian, gptqQuantize } from "../lib/ops/gptq.ts";
import { gptqSolve } from "../lib/quantization/gptq/solve.ts";
import { bestDevice, timeCuda } from "./harness.ts";
import { report, type Row } from "./report.ts";

const { values } = parseArgs({ options: { device: { type: "string" }, tokens: { type: "string", default: "512" }, "act-order": { type: "boolean", default: false } } });
const device = values.device ?? bestDevice();
const onGpu = device !== "cpu";
const tokens = Number(values.tokens), actOrder = values["act-order"]!, groupSize = 128;
const d = onGpu ? 1 : 8;
const LAYERS: [string, number, number][] = [
  ["q_proj", 4096, 4096], ["k_proj", 1024, 4096], ["v_proj", 1024, 4096], ["o_proj", 4096, 4096],
  ["gate_proj", 14336, 4096], ["up_proj", 14336, 4096], ["down_proj", 4096, 14336],
].map(([name, n, k]) => [name as string, (n as number) / d, (k as number) / d]);

/** Median milliseconds of `fn`: CUDA events (L2 flushed) on a GPU, wall clock on the CPU. */
function ms(fn: () => void, samples: number): number {
  if (onGpu) return timeCuda(Context.get(device), fn, { warmup: 1, samples }).us / 1000;
  fn();
  const t = Array.from({ length: samples }, () => {
    const s = performance.now();
    fn();
    return performance.now() - s;
  }).sort((a, b) => a - b);
  return t[samples >> 1]!;
}

const disposeAll = (ts: (Tensor | null)[]) => ts.forEach((t) => t?.dispose());

const rows: Row[] = [];
const sum = { hessian: 0, factor: 0, sweep: 0, solve: 0 };
for (const [name, n, k] of LAYERS) {
  using x = randn([tokens, k], { dtype: "bf16", device, seed: 1 });
  using w = randn([n, k], { dtype: "bf16", device, seed: 2, std: 0.02 });
  using h = empty([k, k], { device }); // written by the Hessian (beta = 0: not read)
  const tH = ms(() => gptqHessian(x, h, 2 / tokens, 0), 5);
  const samples = k > 8192 ? 3 : 5;
  const tF = ms(() => {
    const f = gptqFactor(h, { actOrder });
    disposeAll([f.u, f.perm]);
  }, samples);
  const f = gptqFactor(h, { actOrder });
  const tS = ms(() => {
    const c = gptqQuantize(w, h, f, { groupSize, staticGroups: actOrder });
    disposeAll([c.q, c.scale, c.zero]);
  }, samples);
  disposeAll([f.u, f.perm]);
  const s0 = performance.now();
  gptqSolve(w, h, { groupSize, actOrder });
  const tSolve = performance.now() - s0;
  const tf = (flops: number, t: number) => flops / (t * 1e-3) / 1e12;
  rows.push({
    layer: name, n, k, "hessian ms": tH, "factor ms": tF, "sweep ms": tS, "total ms": tH + tF + tS,
    "hessian TFLOP/s": tf(2 * tokens * k * k, tH), "factor TFLOP/s": tf((2 / 3) * k ** 3, tF), "sweep TFLOP/s": tf(n * k * k, tS),
    "solve s": tSolve / 1000,
  });
  sum.hessian += tH, sum.factor += tF, sum.sweep += tS, sum.solve += tSolve;
}
rows.push({
  layer: "layer (7 Linears)", n: 0, k: 0, "hessian ms": sum.hessian, "factor ms": sum.factor, "sweep ms": sum.sweep,
  "total ms": sum.hessian + sum.factor + sum.sweep, "hessian TFLOP/s": 0, "factor TFLOP/s": 0, "sweep TFLOP/s": 0, "solve s": sum.solve / 1000,
});
const shapes = onGpu ? "Llama-3-8B" : "Llama-3-8B / 8";
report(`gptq-${device.replace(":", "")}${actOrder ? "-act-order" : ""}`,
  `GPTQ of one ${shapes} layer (${tokens} calibration tokens, int4 g${groupSize}${actOrder ? ", act-order" : ""}) on ${device}`,
  rows, { device, tokens, groupSize, blockSize: 128, actOrder });
