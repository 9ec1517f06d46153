/** autoquant's public API (lib/index.ts re-exports it). */
export { autoquant, finalizeAutoquant, type AutoquantHandle, type AutoquantOptions } from "./autoquant.ts";
export * from "./candidates.ts";
export { floatCast, FloatCastLayout } from "./float_cast.ts";
export type { AutoquantMode } from "./measure.ts";
export { AutoQuantizableLinearWeight, type RecordedShape } from "./recording_weight.ts";
export { formatLinearShapes, recordLinearShapes, type LinearShape } from "./record_shapes.ts";
export * from "./report.ts";
export type { TimerOptions } from "./timer.ts";
export { clearAutoquantTimings } from "./timing_cache.ts";
