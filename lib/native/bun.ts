/** bun:ffi adapter: translates the neutral symbol table to Bun's dlopen. */
import { dlopen, ptr, type FFIFunction } from "bun:ffi";
import { bind } from "./bind.ts";
import { symbols, type Adapter, type PtrArg } from "./symbols.ts";

/** Bun passes TypedArrays and bigints as pointers directly; an empty TypedArray must become null. */
function pointer(value: PtrArg): PtrArg {
  return ArrayBuffer.isView(value) && value.byteLength === 0 ? null : value;
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
  addressOf: (view) => BigInt(ptr(view)),
  env: (name) => process.env[name],
};
