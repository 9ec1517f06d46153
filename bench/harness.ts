/**
 * Benchmark harness. CUDA: each sample flushes L2 (a read of four times its size), records an event,
 * runs the op, records another; the result is the median over samples after warm-up. CPU: mitata's
 * `measure` (its own warm-up and sampling), p50. Never used in tests.
 */
import { measure } from "mitata";
import { capabilities, Context, median, sampleMicros, warmClocks, type TimingSampleOptions } from "../lib/index.ts";

export interface Timing {
  /** Median time per call in microseconds. */
  us: number;
  /** Fastest sample in microseconds. */
  minUs: number;
  samples: number;
}

/** Warm-up and sample counts, and whether L2 is flushed before each CUDA sample (default true). */
export type TimeOptions = TimingSampleOptions;

/** The Timing of one op's samples (µs). */
function timing(us: number[]): Timing {
  return { us: median(us), minUs: Math.min(...us), samples: us.length };
}

/** Times `fn` on a CUDA context with events around each call. */
export function timeCuda(ctx: Context, fn: () => void, opts: TimeOptions = {}): Timing {
  warmClocks(ctx, fn);
  return timing(sampleMicros(ctx, [fn], opts)[0]!);
}

/**
 * Times several ops on `device` against each other: CUDA samples alternate between them (each after
 * an L2 flush), so a drift of the GPU's clocks (power, heat) over the run weighs on all alike; on the
 * CPU each is timed in turn with mitata.
 */
export async function timeInterleaved(device: string, fns: readonly (() => void)[], opts: TimeOptions = {}): Promise<Timing[]> {
  if (device === "cpu") {
    const out: Timing[] = [];
    for (const fn of fns) out.push(await timeCpu(fn));
    return out;
  }
  const ctx = Context.get(device);
  warmClocks(ctx, fns[0]!);
  return sampleMicros(ctx, fns, opts).map(timing);
}

/** Times `fn` on the CPU with mitata (p50 of its samples). */
export async function timeCpu(fn: () => void, opts: { minSamples?: number } = {}): Promise<Timing> {
  const st = await measure(fn, { min_samples: opts.minSamples ?? 10, min_cpu_time: 200e6 });
  return { us: st.p50 / 1000, minUs: st.min / 1000, samples: st.samples.length };
}

/** Times `fn` on `device` ("cpu" or "cuda:N") with the right clock. */
export async function timeOn(device: string, fn: () => void, opts: TimeOptions = {}): Promise<Timing> {
  if (device === "cpu") return timeCpu(fn);
  return timeCuda(Context.get(device), fn, opts);
}

/** "cuda:0" when a GPU is present, else "cpu". */
export function bestDevice(): string {
  return capabilities().cuda.devices.length > 0 ? "cuda:0" : "cpu";
}
