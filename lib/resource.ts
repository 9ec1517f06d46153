/** Base class of every object that owns a native resource (context, memory, event, graph). */
import { check } from "./errors.ts";

// The release function never references its owner, so the owner can be collected.
const registry = new FinalizationRegistry<() => number>((release) => {
  release(); // nobody to report a failure to at collection time
});

/**
 * Owns one native resource. `dispose()` (or `using`) releases it exactly once and reports a failed
 * release as a TaoError; a FinalizationRegistry releases what was never disposed.
 */
export abstract class NativeResource {
  #release: (() => number) | null;

  /** `release` frees the resource and returns its tao_status; `op` names it in errors. */
  protected constructor(private readonly releaseOp: string, release: () => number) {
    this.#release = release;
    registry.register(this, release, this);
  }

  /** True once disposed. */
  get disposed(): boolean {
    return this.#release === null;
  }

  /** Releases the resource; later calls do nothing. */
  dispose(): void {
    const release = this.#release;
    if (release === null) return;
    this.#release = null;
    registry.unregister(this);
    check(release(), this.releaseOp);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
