/** Deno FFI adapter: translates the neutral symbol table to Deno.dlopen. */
import { bind } from "./bind.ts";
import { symbols, type Adapter, type PtrArg } from "./symbols.ts";

const DENO_TYPE = { i32: "i32", u64: "u64", f64: "f64", ptr: "pointer", cstring: "pointer" } as const;

/** Host TypedArrays become Deno.UnsafePointer.of (null when empty); addresses UnsafePointer.create. */
function pointer(value: PtrArg): Deno.PointerValue {
  if (value === null) return null;
  if (typeof value === "bigint") return Deno.UnsafePointer.create(value);
  return Deno.UnsafePointer.of(value as Uint8Array<ArrayBuffer>);
}

export const adapter: Adapter = {
  open(path) {
    const decls: Record<string, Deno.ForeignFunction> = {};
    for (const [name, s] of Object.entries(symbols)) {
      decls[name] = { parameters: s.args.map((t) => DENO_TYPE[t]), result: DENO_TYPE[s.result] };
    }
    const raw = Deno.dlopen(path, decls).symbols as unknown as Record<string, (...a: unknown[]) => unknown>;
    return bind(raw, pointer, (p) => Deno.UnsafePointerView.getCString(p as Deno.PointerObject));
  },
  addressOf: (view) => BigInt(Deno.UnsafePointer.value(pointer(view))),
  env: (name) => Deno.env.get(name),
};
