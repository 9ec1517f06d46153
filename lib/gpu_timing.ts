/**
 * Getting a GPU ready for a timed call: clocks up to speed once per process, L2 evicted before each
 * call (so the call reads its operands from memory as it would in a model whose previous op read
 * other data). Used by autoquant's timer and the bench harness.
 */
import type { Context } from "./context.ts";
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
