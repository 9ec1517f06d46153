/** Accuracy metrics for quantized results. */
import type { Tensor } from "../tensor.ts";
import { invalid } from "../errors.ts";

/**
 * Signal-to-quantization-noise ratio in dB: 10·log10(Σ ref² / Σ (ref − approx)²), accumulated in
 * float64 over host copies (any device, any float dtype). Infinite when the two are equal.
 */
export function sqnr(reference: Tensor, approx: Tensor): number {
  if (reference.numel !== approx.numel) {
    throw invalid("sqnr", `element counts differ: ${reference.numel} vs ${approx.numel}`);
  }
  const a = reference.toArray(), b = approx.toArray();
  let signal = 0, noise = 0;
  for (let i = 0; i < a.length; i++) {
    const r = a[i]!, d = r - b[i]!;
    signal += r * r;
    noise += d * d;
  }
  return 10 * Math.log10(signal / noise);
}
