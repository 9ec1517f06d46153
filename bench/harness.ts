/**
 * Benchmark harness. CUDA: each sample flushes L2 (a read of four times its size), records an event,
 * runs the op, records another; the result is the median over samples after warm-up. CPU: mitata's
 * `measure` (its own warm-up and sampling), p50. Never used in tests.
 */
import { measure } from "mitata";
import { capabilities, Context, Event, flushL2, warmClocks } from "../lib/index.ts";

export interface Timing {
  /** Median time per call in microseconds. */
  us: number;
  /** Fastest sample in microseconds. */
  minUs: number;
  samples: number;
}

export interface TimeOptions {
  warmup?: number;
  samples?: number;
  /** Flush L2 before each CUDA sample (default true). */
  flush?: boolean;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Times `fn` on a CUDA context with events around each call. */
export function timeCuda(ctx: Context, fn: () => void, opts: TimeOptions = {}): Timing {
  const warmup = opts.warmup ?? 5, samples = opts.samples ?? 50, flush = opts.flush ?? true;
  warmClocks(ctx, fn);
  for (let i = 0; i < warmup; i++) fn();
  const pairs: [Event, Event][] = [];
  for (let i = 0; i < samples; i++) {
    if (flush) flushL2(ctx);
    const start = ctx.createEvent().record();
    fn();
    pairs.push([start, ctx.createEvent().record()]);
  }
  const us = pairs.map(([a, b]) => Event.elapsedMs(a, b) * 1000);
  for (const [a, b] of pairs) a.dispose(), b.dispose();
  return { us: median(us), minUs: Math.min(...us), samples };
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
