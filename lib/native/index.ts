/**
 * Finds and opens libtao.so with the runtime's FFI and exposes `native`: the symbol table as plain
 * functions, identical on Bun and Deno. The library is $TAO_LIB if set, else <repo>/build/libtao.so.
 */
import { ErrorCode, setLastErrorSource, TaoError } from "../errors.ts";
import type { Adapter, NativeFunctions } from "./symbols.ts";

/** "deno" when running under Deno, else "bun". */
export const runtime: "bun" | "deno" = "Deno" in globalThis ? "deno" : "bun";

// Non-literal specifiers keep each type checker away from the other runtime's FFI module (tsc from
// deno.ts, Deno from bun:ffi); `npm run test:deno` checks deno.ts with Deno's own types.
const BUN_ADAPTER = "./bun.ts", DENO_ADAPTER = "./deno.ts";
const adapter: Adapter = (await import(runtime === "deno" ? DENO_ADAPTER : BUN_ADAPTER)).adapter;

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
