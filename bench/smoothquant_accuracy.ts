/**
 * SmoothQuant accuracy (issue 4): output SQNR of the outlier block (test/outlier_block.ts: Linear
 * 256 → 1024, ReLU, Linear 1024 → 256, five input channels 10–100× the rest, f32 on the CPU) under
 * plain dynamic W8A8, SmoothQuant (α = 0.5) and static W8A8, after 8 calibration batches of 64 rows.
 * Run: `bun bench/smoothquant_accuracy.ts`.
 */
import { outlierBlockSqnr } from "../test/outlier_block.ts";

const r = outlierBlockSqnr();
console.log(`plain W8A8 (dynamic per-token)  ${r.w8a8.toFixed(1)} dB`);
console.log(`SmoothQuant (alpha 0.5)         ${r.smoothQuant.toFixed(1)} dB`);
console.log(`static W8A8 (per-tensor MinMax) ${r.static.toFixed(1)} dB`);
