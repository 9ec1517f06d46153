/** tao: the one public import. */
export * from "./errors.ts";
export * from "./dtypes.ts";
export * from "./device.ts";
export * from "./runtime.ts";
export * from "./context.ts";
export * from "./event.ts";
export * from "./graph.ts";
export * from "./resource.ts";
export * from "./storage.ts";
export * from "./tensor.ts";
export * from "./creation.ts";
export * from "./quantization/primitives.ts";
export { native, addressOf, libraryPath, runtime } from "./native/index.ts";
export * as constants from "./native/constants.ts";
export { symbols, type PtrArg } from "./native/symbols.ts";
export * from "./quantization/metrics.ts";
