/** bun:ffi adapter: translates the neutral symbol table to Bun's dlopen. */
import { dlopen, ptr, type FFIFunction } from "bun:ffi";
import { bind } from "./bind.ts";
import { symbols, type Adapter, type PtrArg } from "./symbols.ts";

/**
 * Bun passes TypedArrays as pointers directly (an empty one must become null). Addresses are
 * passed as numbers: exact (user-space addresses are below 2^53) and about 150 ns faster per
 * argument than a bigint.
 */
function pointer(value: PtrArg): number | ArrayBufferView | null {
  if (typeof value === "bigint") return Number(value);
  return value !== null && value.byteLength === 0 ? null : value;
}

export const adapter: Adapter = {
  open(path) {
    const decls: Record<string, FFIFunction> = {};
    for (const [name, s] of Object.entries(symbols)) {
      decls[name] = { args: [...s.args], returns: s.result };
    }
    const raw = dlopen(path, decls).symbols as unknown as Record<string, (...a: unknown[]) => unknown>;
    return bind(raw, pointer, String);
  },
  addressOf: (view) => BigInt(ptr(view as DataView)), // every ArrayBufferView is a TypedArray or a DataView
  env: (name) => process.env[name],
};
