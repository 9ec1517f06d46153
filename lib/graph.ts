/** Graph: a captured sequence of a context's ops, replayed with one launch (tao_graph_*). */
import * as C from "./native/constants.ts";
import { native } from "./native/index.ts";
import { check, invalid } from "./errors.ts";
import { NativeResource } from "./resource.ts";
import type { Context } from "./context.ts";

export class Graph extends NativeResource {
  readonly #handle: bigint;

  constructor(readonly context: Context, handle: bigint) {
    super("Graph.dispose", () => native.tao_graph_destroy(handle));
    this.#handle = handle;
  }

  /** Replays the graph on its context's stream (asynchronous: synchronize or copy to the host to wait). */
  launch(): void {
    if (this.disposed) throw invalid("Graph.launch", "graph was disposed");
    check(native.tao_graph_launch(this.context.handle("Graph.launch"), this.#handle), "Graph.launch");
  }
}

const capturing = new Set<Context>();

/** Whether captureGraph is running on `ctx` (its ops are being recorded, not run: nothing can be timed or read back). */
export function isCapturing(ctx: Context): boolean {
  return capturing.has(ctx);
}

/**
 * Captures the ops `fn` enqueues on `ctx` (CUDA only; the CPU answers UNSUPPORTED) into a graph.
 * Ops that synchronize (device-to-host copies) fail while capturing. If `fn` throws, the capture is
 * ended and discarded and fn's error is rethrown (it is the first failure, so it wins).
 */
export function captureGraph(ctx: Context, fn: () => void): Graph {
  const op = "Context.captureGraph";
  const handle = ctx.handle(op);
  check(native.tao_graph_begin(handle), op);
  let failure: { error: unknown } | null = null;
  capturing.add(ctx);
  try {
    fn();
  } catch (error) {
    failure = { error };
  } finally {
    capturing.delete(ctx);
  }
  const out = new BigUint64Array(1);
  const status = native.tao_graph_end(handle, out);
  if (failure !== null) {
    if (status === C.TAO_OK) new Graph(ctx, out[0]!).dispose();
    throw failure.error;
  }
  check(status, op);
  return new Graph(ctx, out[0]!);
}
