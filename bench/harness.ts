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
  const warmup = opts.warmup ?? 5, samples = opts.samples ?? 50;
  warmClocks(ctx, fns[0]!);
  for (const fn of fns) for (let i = 0; i < warmup; i++) fn();
  const pairs: [Event, Event][][] = fns.map(() => []);
  for (let i = 0; i < samples; i++) {
    fns.forEach((fn, j) => {
      flushL2(ctx);
      const start = ctx.createEvent().record();
      fn();
      pairs[j]!.push([start, ctx.createEvent().record()]);
    });
  }
  return pairs.map((ps) => {
    const us = ps.map(([a, b]) => Event.elapsedMs(a, b) * 1000);
    for (const [a, b] of ps) a.dispose(), b.dispose();
    return { us: median(us), minUs: Math.min(...us), samples };
  });
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
