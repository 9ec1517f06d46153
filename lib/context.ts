/** Context: one device (CPU or a CUDA device) with its stream and allocator (tao_ctx_*). */
import * as C from "./native/constants.ts";
import { native } from "./native/index.ts";
import type { PtrArg } from "./native/symbols.ts";
import { check, invalid } from "./errors.ts";
import { parseDevice, type Device } from "./device.ts";
import { NativeResource } from "./resource.ts";
import { Event } from "./event.ts";
import { captureGraph, type Graph } from "./graph.ts";

/** Direction of a tao_copy. */
export const CopyKind = { H2D: C.TAO_COPY_H2D, D2H: C.TAO_COPY_D2H, D2D: C.TAO_COPY_D2D } as const;
export type CopyKind = (typeof CopyKind)[keyof typeof CopyKind];

/** Optional math libraries, a bit mask for Context.initMathlibs. */
export const MathLib = { CUBLASLT: C.TAO_MATHLIB_CUBLASLT, CUSPARSELT: C.TAO_MATHLIB_CUSPARSELT } as const;

const cache = new Map<Device, Context>();

/**
 * A tao_ctx for one device. Get one with `Context.get(device)`: contexts are created lazily and
 * cached per device for the life of the process; `dispose()` destroys it (waiting for its work) and
 * drops it from the cache, so the next `get` makes a fresh one. Dispose its tensors, events and
 * graphs first: memory of a disposed context is not freed again.
 */
export class Context extends NativeResource {
  readonly #handle: bigint;

  private constructor(readonly device: Device, readonly ordinal: number, handle: bigint) {
    super("Context.dispose", () => native.tao_ctx_destroy(handle));
    this.#handle = handle;
  }

  /** The cached context of "cpu", "cuda" or "cuda:N", created on first use. */
  static get(device: string = "cpu"): Context {
    const parsed = parseDevice(device);
    let ctx = cache.get(parsed.device);
    if (ctx === undefined) {
      const out = new BigUint64Array(1);
      check(native.tao_ctx_create(parsed.ordinal, out), `Context.get(${parsed.device})`);
      ctx = new Context(parsed.device, parsed.ordinal, out[0]!);
      cache.set(parsed.device, ctx);
    }
    return ctx;
  }

  /** The tao_ctx* for a native call; throws if the context was disposed. */
  handle(op: string): bigint {
    if (this.disposed) throw invalid(op, `context ${this.device} was disposed`);
    return this.#handle;
  }

  override dispose(): void {
    if (cache.get(this.device) === this) cache.delete(this.device);
    super.dispose();
  }

  /** Allocates `bytes` (> 0) on the device, 256-byte aligned; returns the address. `op` names the caller in errors. */
  alloc(bytes: number, op = "Context.alloc"): bigint {
    const out = new BigUint64Array(1);
    check(native.tao_alloc(this.handle(op), bytes, out), op);
    return out[0]!;
  }

  /** Frees memory from this context's alloc. */
  free(ptr: bigint): void {
    check(native.tao_free(this.handle("Context.free"), ptr), "Context.free");
  }

  /** Copies `bytes` bytes (D2H waits for the stream; host pointers are TypedArrays). */
  copy(dst: PtrArg, src: PtrArg, bytes: number, kind: CopyKind): void {
    check(native.tao_copy(this.handle("Context.copy"), dst, src, bytes, kind), "Context.copy");
  }

  /** Sets `bytes` bytes at `ptr` to the low 8 bits of `value`. */
  memset(ptr: PtrArg, value: number, bytes: number): void {
    check(native.tao_memset(this.handle("Context.memset"), ptr, value, bytes), "Context.memset");
  }

  /** Reads `bytes` bytes at `ptr` (16-byte aligned, a multiple of 16) and discards them: a clean L2 flush. */
  read(ptr: PtrArg, bytes: number): void {
    check(native.tao_read(this.handle("Context.read"), ptr, bytes), "Context.read");
  }

  /** Waits for all work enqueued on the context (and reports asynchronous errors). */
  synchronize(): void {
    check(native.tao_ctx_synchronize(this.handle("Context.synchronize")), "Context.synchronize");
  }

  /**
   * Device memory held by tao's pool on this context's device: bytes in use now and the most in use at
   * once since the last `resetPeak` (CUDA only; the CPU is a TaoError UNSUPPORTED).
   */
  memory(opts: { resetPeak?: boolean } = {}): { used: number; peak: number } {
    const used = new BigUint64Array(1), peak = new BigUint64Array(1);
    const op = "Context.memory";
    check(native.tao_ctx_memory(this.handle(op), used, peak, opts.resetPeak ? 1 : 0), op);
    return { used: Number(used[0]), peak: Number(peak[0]) };
  }

  /** Loads the math libraries of `mask` (MathLib bits) now rather than at first use (CUDA only). */
  initMathlibs(mask: number = MathLib.CUBLASLT | MathLib.CUSPARSELT): void {
    check(native.tao_ctx_init_mathlibs(this.handle("Context.initMathlibs"), mask), "Context.initMathlibs");
  }

  /** A new event on this context's stream (record it with `event.record()`). */
  createEvent(): Event {
    return Event.create(this);
  }

  /** Runs `fn` with the stream captured (CUDA only) and returns the instantiated graph. */
  captureGraph(fn: () => void): Graph {
    return captureGraph(this, fn);
  }
}
