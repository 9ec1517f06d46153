/**
 * Finds and opens libtao.so with the runtime's FFI and exposes `native`: the symbol table as plain
 * functions, identical on Bun and Deno. The library is $TAO_LIB if set, else <repo>/build/libtao.so.
 */
import { ErrorCode, setLastErrorSource, TaoError } from "../errors.ts";
import type { Adapter, NativeFunctions } from "./symbols.ts";

/** "deno" when running under Deno, else "bun". */
export const runtime: "bun" | "deno" = typeof Deno !== "undefined" ? "deno" : "bun";

// A non-literal specifier keeps Deno's type checker away from the bun:ffi module.
const BUN_ADAPTER = "./bun.ts";
const adapter: Adapter = runtime === "deno"
  ? (await import("./deno.ts")).adapter
  : (await import(BUN_ADAPTER)).adapter;

/** Path of the opened library. */
export const libraryPath: string = adapter.env("TAO_LIB") ??
  decodeURIComponent(new URL("../../build/libtao.so", import.meta.url).pathname);

function open(): NativeFunctions {
  try {
    return adapter.open(libraryPath);
  } catch (e) {
    throw new TaoError(
      ErrorCode.UNAVAILABLE,
      "load libtao",
      `cannot open ${libraryPath} (${(e as Error).message}); build it (npm run build) or set TAO_LIB`,
    );
  }
}

/** Every function of include/tao.h (see symbols.ts for argument conventions). */
export const native: NativeFunctions = open();
setLastErrorSource(() => native.tao_last_error());

/** Native address of a non-empty host TypedArray, for pointer fields of params structs. */
export const addressOf: (view: ArrayBufferView) => bigint = adapter.addressOf;
