/**
 * Autoquant's clock: the median time of one call of an op on its device, after warm-up. CUDA: a
 * pair of events around each call, with L2 flushed before it (flushL2: a read of four times its size),
 * so every candidate reads its weight from memory as it would in a model, and the clocks brought up
 * before the process's first timing (warmClocks); CPU: performance.now().
 */
import { Context } from "../../context.ts";
import { median, sampleMicros, warmClocks } from "../../gpu_timing.ts";

/** How many calls are made. */
export interface TimerOptions {
  /** Untimed calls first (default 3). */
  warmup?: number;
  /** Timed calls, whose median is the result (default 10). */
  samples?: number;
}

/** Median microseconds of one `op()` on `device` ("cpu" or "cuda:N"). */
export function medianMicros(device: string, op: () => void, opts: TimerOptions = {}): number {
  const { warmup = 3, samples = 10 } = opts;
  if (device !== "cpu") {
    const ctx = Context.get(device);
    warmClocks(ctx, op);
    return median(sampleMicros(ctx, [op], { warmup, samples })[0]!);
  }
  for (let i = 0; i < warmup; i++) op();
  const us: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    op();
    us.push((performance.now() - t0) * 1000);
  }
  return median(us);
}
