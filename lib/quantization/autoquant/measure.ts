/**
 * Measures every candidate on one layer (torchao's AutoQuantizableLinearWeight.to_quantized and
 * tune_autoquant): SQNR against the float layer, then the median time of each recorded shape
 * (from the timing cache where it has it), weighted by how often the shape was seen.
 */
import { invalid } from "../../errors.ts";
import { randn } from "../../creation.ts";
import type { Tensor } from "../../tensor.ts";
import { linear } from "../../ops/linear.ts";
import { capabilities } from "../../runtime.ts";
import type { AffineQuantizedTensor } from "../../dtypes/affine_quantized_tensor.ts";
import { sqnr } from "../metrics.ts";
import type { AutoquantCandidate } from "./candidates.ts";
import type { RecordedShape } from "./recording_weight.ts";
import type { CandidateResult, LayerReport } from "./report.ts";
import { medianMicros, type TimerOptions } from "./timer.ts";
import { timingKey, type TimingCache } from "./timing_cache.ts";

/** "relu": each candidate's whole linear is timed; ["interpolate", c]: see interpolated(). */
export type AutoquantMode = "relu" | readonly ["interpolate", number];

/** What measureLayer needs besides the layer. */
export interface MeasureContext {
  candidates: readonly AutoquantCandidate[];
  mode: AutoquantMode;
  minSqnr: number | null;
  onError: "skip" | "throw";
  cache: TimingCache;
  timer: TimerOptions;
  /** Counts of timings measured and taken from the cache, updated as it goes. */
  counts: { measured: number; fromCache: number };
  /** Called after each candidate (progress). */
  step(): void;
}

/** Why `c` cannot run on `device`, or null. */
function deviceLacks(c: AutoquantCandidate, device: string): string | null {
  if (c.minSm === undefined || device === "cpu") return null;
  const sm = capabilities().cuda.devices[Number(device.split(":")[1] ?? 0)]?.sm ?? 0;
  return sm >= c.minSm ? null : `needs compute capability ${c.minSm / 10}+, ${device} has ${sm / 10}`;
}

/**
 * torchao's interpolation for dynamic activation quantization, in µs: the matmul alone (x quantized
 * up front) m; if m already loses to `best` (the fastest earlier candidate on this shape), m;
 * else c · full + (1 − c) · m, where full times the whole op (quantizing x included). It credits the
 * activation quantization that a compiler would fuse into the previous op with weight 1 − c.
 */
function interpolated(c: number, matmulUs: number, fullUs: () => number, best: number): number {
  return matmulUs >= best ? matmulUs : c * fullUs() + (1 - c) * matmulUs;
}

/** Times candidate `c` (its quantized weight `q`, or null for the float `weight`) on every shape; inputs[i] is x of shapes[i]. */
function timeShapes(
  c: AutoquantCandidate, q: AffineQuantizedTensor | null, weight: Tensor, bias: Tensor | null, shapes: RecordedShape[], inputs: Tensor[],
  bestSoFar: number[], ctx: MeasureContext,
): number[] {
  const device = weight.device, mode = ctx.mode, w = q ?? weight;
  return shapes.map((s, i) => {
    const key = timingKey(c, s, mode === "relu" ? "relu" : mode.join(" "), device);
    const cached = ctx.cache.get(key);
    if (cached !== undefined) {
      ctx.counts.fromCache++;
      return cached;
    }
    const x = inputs[i]!, b = s.bias === null ? null : bias;
    const full = () => medianMicros(device, () => linear(x, w, b).dispose(), ctx.timer);
    let us: number;
    if (mode !== "relu" && c.matmulOnly && q !== null) {
      const mm = c.matmulOnly(x, q, b);
      try {
        us = interpolated(mode[1], medianMicros(device, mm.run, ctx.timer), full, bestSoFar[i]!);
      } finally {
        mm.dispose();
      }
    } else {
      us = full();
    }
    ctx.cache.set(key, us);
    ctx.counts.measured++;
    return us;
  });
}

/** One candidate's result on a layer (quantizing a copy of `weight`, which stays as it is). */
function measureCandidate(
  c: AutoquantCandidate, weight: Tensor, bias: Tensor | null, shapes: RecordedShape[], inputs: Tensor[], reference: Tensor,
  bestSoFar: number[], ctx: MeasureContext,
): CandidateResult {
  const result: CandidateResult = { name: c.name, shapeUs: shapes.map(() => null), totalUs: null, sqnr: null, excluded: null };
  result.excluded = deviceLacks(c, weight.device) ?? c.config?.skipReason(weight) ?? null;
  if (result.excluded !== null) return result;
  let q: AffineQuantizedTensor | null = null;
  try {
    q = c.config?.quantizeWeight(weight) ?? null;
    const w = q ?? weight, probe = shapes.indexOf(smallest(shapes));
    using y = linear(inputs[probe]!, w, shapes[probe]!.bias === null ? null : bias);
    result.sqnr = q === null ? Infinity : sqnr(reference, y);
    if (ctx.minSqnr !== null && !(result.sqnr >= ctx.minSqnr)) {
      result.excluded = `SQNR ${result.sqnr.toFixed(1)} dB < minSqnr ${ctx.minSqnr}`;
      return result;
    }
    result.shapeUs = timeShapes(c, q, weight, bias, shapes, inputs, bestSoFar, ctx);
    result.totalUs = result.shapeUs.reduce<number>((t, us, i) => t + us! * shapes[i]!.count, 0);
  } catch (e) {
    if (ctx.onError === "throw") throw e;
    result.excluded = `failed: ${(e as Error).message}`;
    console.warn(`autoquant: skipping ${c.name}: ${(e as Error).message}`);
  } finally {
    q?.dispose();
  }
  return result;
}

/** The recorded shape with the fewest rows (where SQNR is measured: cheapest). */
function smallest(shapes: RecordedShape[]): RecordedShape {
  return shapes.reduce((a, b) => (b.x[0] < a.x[0] ? b : a));
}

/**
 * Every candidate of ctx on the layer `name` (float `weight` [N, K], `bias`) over its recorded
 * shapes, and the choice: the smallest total time among candidates not excluded ("none" if none).
 */
export function measureLayer(name: string, weight: Tensor, bias: Tensor | null, shapes: RecordedShape[], ctx: MeasureContext): LayerReport {
  if (shapes.length === 0) throw invalid("autoquant", `${name} recorded no shapes`);
  const inputs: Tensor[] = [];
  try {
    for (const [i, s] of shapes.entries()) inputs.push(randn(s.x, { dtype: s.dtype, device: weight.device, seed: i + 1 }));
    const probe = shapes.indexOf(smallest(shapes));
    using reference = linear(inputs[probe]!, weight, shapes[probe]!.bias === null ? null : bias);
    const bestSoFar = shapes.map(() => Infinity);
    const candidates = ctx.candidates.map((c) => {
      const r = measureCandidate(c, weight, bias, shapes, inputs, reference, bestSoFar, ctx);
      if (r.excluded === null) r.shapeUs.forEach((us, i) => (bestSoFar[i] = Math.min(bestSoFar[i]!, us!)));
      ctx.step();
      return r;
    });
    const best = candidates.filter((c) => c.totalUs !== null).reduce<CandidateResult | null>((a, b) => (a === null || b.totalUs! < a.totalUs! ? b : a), null);
    return { name, shapes, candidates, choice: best?.name ?? "none" };
  } finally {
    for (const x of inputs) x.dispose();
  }
}
