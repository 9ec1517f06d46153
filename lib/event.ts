/** Event: a point in a context's stream, for timing (tao_event_*). */
import { native } from "./native/index.ts";
import { check, invalid } from "./errors.ts";
import { NativeResource } from "./resource.ts";
import type { Context } from "./context.ts";

export class Event extends NativeResource {
  readonly #handle: bigint;

  private constructor(readonly context: Context, handle: bigint) {
    super("Event.dispose", () => native.tao_event_destroy(handle));
    this.#handle = handle;
  }

  /** Creates an event on `ctx` (use ctx.createEvent()). */
  static create(ctx: Context): Event {
    const out = new BigUint64Array(1);
    check(native.tao_event_create(ctx.handle("Event.create"), out), "Event.create");
    return new Event(ctx, out[0]!);
  }

  #live(op: string): bigint {
    if (this.disposed) throw invalid(op, "event was disposed");
    return this.#handle;
  }

  /** Marks the current point of the context's stream. Returns this event. */
  record(): this {
    check(native.tao_event_record(this.context.handle("Event.record"), this.#live("Event.record")), "Event.record");
    return this;
  }

  /** Milliseconds between two recorded events of one context; waits for `end`. */
  static elapsedMs(start: Event, end: Event): number {
    const out = new Float32Array(1);
    check(native.tao_event_elapsed_ms(start.#live("Event.elapsedMs"), end.#live("Event.elapsedMs"), out), "Event.elapsedMs");
    return out[0]!;
  }
}
