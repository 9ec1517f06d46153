/**
 * Autoquant's clock: the median time of one call of an op on its device, after warm-up. CUDA: a
 * pair of events around each call, with L2 flushed before it (a memset of twice the L2 size), so
 * every candidate reads its weight from memory as it would in a model; CPU: performance.now().
 */
import { Context } from "../../context.ts";
import { Event } from "../../event.ts";
import { capabilities } from "../../runtime.ts";

/** How many calls are made. */
export interface TimerOptions {
  /** Untimed calls first (default 3). */
  warmup?: number;
  /** Timed calls, whose median is the result (default 10). */
  samples?: number;
}

const l2Flush = new Map<string, { ptr: bigint; bytes: number }>();

/** The buffer whose memset evicts `ctx`'s L2 (allocated once per device, kept for the process). */
function flushBuffer(ctx: Context): { ptr: bigint; bytes: number } {
  let buf = l2Flush.get(ctx.device);
  if (buf === undefined) {
    const bytes = 2 * (capabilities().cuda.devices[ctx.ordinal]?.l2_bytes ?? 64 << 20);
    buf = { ptr: ctx.alloc(bytes, "autoquant"), bytes };
    l2Flush.set(ctx.device, buf);
  }
  return buf;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Median microseconds of one `op()` on `device` ("cpu" or "cuda:N"). */
export function medianMicros(device: string, op: () => void, opts: TimerOptions = {}): number {
  const { warmup = 3, samples = 10 } = opts;
  for (let i = 0; i < warmup; i++) op();
  const us: number[] = [];
  if (device === "cpu") {
    for (let i = 0; i < samples; i++) {
      const t0 = performance.now();
      op();
      us.push((performance.now() - t0) * 1000);
    }
    return median(us);
  }
  const ctx = Context.get(device), flush = flushBuffer(ctx);
  using start = ctx.createEvent(), end = ctx.createEvent();
  for (let i = 0; i < samples; i++) {
    ctx.memset(flush.ptr, 0, flush.bytes);
    start.record();
    op();
    end.record();
    us.push(Event.elapsedMs(start, end) * 1000);
  }
  return median(us);
}
