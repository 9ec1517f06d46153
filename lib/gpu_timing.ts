/**
 * Timing ops on a GPU: clocks up to speed once per process, L2 evicted before each call (so the call
 * reads its operands from memory as it would in a model whose previous op read other data), samples
 * bracketed by events. Used by the bench harness, autoquant's timer and the 2:4 layout's routing.
 */
import type { Context } from "./context.ts";
import { Event } from "./event.ts";
import { capabilities } from "./runtime.ts";

const buffers = new Map<string, { ptr: bigint; bytes: number }>();

/**
 * Enqueues, on `ctx`'s stream, a read of four times the device's L2 (a buffer allocated and zeroed
 * once per device and kept for the process). A read leaves L2 holding clean lines; a memset would
 * leave dirty ones for the timed call to write back (on an H100 a 62 MB read took 30.7 µs after a
 * memset, 23.1 µs after a read), a cost no kernel pays in a real pipeline.
 */
export function flushL2(ctx: Context): void {
  let buf = buffers.get(ctx.device);
  if (buf === undefined) {
    const bytes = 4 * (capabilities().cuda.devices[ctx.ordinal]?.l2_bytes ?? 64 << 20);
    buf = { ptr: ctx.alloc(bytes, "L2 flush"), bytes };
    ctx.memset(buf.ptr, 0, bytes);
    buffers.set(ctx.device, buf);
  }
  ctx.read(buf.ptr, buf.bytes);
}

const warm = new Set<string>();

/**
 * The first time per device in a process, keeps the GPU busy with `fn` for 300 ms: from idle its
 * clocks ramp up over the first tens of milliseconds, and the first shape a bench timed read up to
 * twice as slow as the same shape timed later (bench/NOTES.md).
 */
export function warmClocks(ctx: Context, fn: () => void): void {
  if (warm.has(ctx.device)) return;
  const end = performance.now() + 300;
  while (performance.now() < end) {
    for (let i = 0; i < 10; i++) fn();
    ctx.synchronize();
  }
  warm.add(ctx.device);
}

/** Median of xs (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** How sampleMicros times. */
export interface TimingSampleOptions {
  /** Untimed calls of each op first (default 5). */
  warmup?: number;
  /** Timed calls of each op (default 50). */
  samples?: number;
  /** Flush L2 before each timed call (default true). */
  flush?: boolean;
}

/**
 * Times each of `fns` on ctx's stream: `warmup` untimed calls of each, then `samples` rounds that call
 * each op once in turn (so a drift of the GPU's clocks weighs on all alike), each call after flushL2
 * and between two events, read once every sample is enqueued. Returns µs per sample, per op.
 */
export function sampleMicros(ctx: Context, fns: readonly (() => void)[], opts: TimingSampleOptions = {}): number[][] {
  const { warmup = 5, samples = 50, flush = true } = opts;
  for (const fn of fns) for (let i = 0; i < warmup; i++) fn();
  const pairs: [Event, Event][][] = fns.map(() => []);
  for (let i = 0; i < samples; i++) {
    fns.forEach((fn, j) => {
      if (flush) flushL2(ctx);
      const start = ctx.createEvent().record();
      fn();
      pairs[j]!.push([start, ctx.createEvent().record()]);
    });
  }
  return pairs.map((ps) => {
    const us = ps.map(([a, b]) => Event.elapsedMs(a, b) * 1000);
    for (const [a, b] of ps) a.dispose(), b.dispose();
    return us;
  });
}
