/** Shared by the runtime adapters: wraps raw FFI functions so both runtimes take the same JS values. */
import { symbols, type NativeFunctions, type PtrArg } from "./symbols.ts";

type RawFunction = (...args: unknown[]) => unknown;

/**
 * Builds the uniform function table from a runtime's raw symbols: every "ptr" argument goes
 * through `pointer` and every "cstring" result through `cstring`. Functions without pointer
 * arguments or string results are used as they are (the fastest call path).
 */
export function bind(
  raw: Record<string, RawFunction>,
  pointer: (value: PtrArg) => unknown,
  cstring: (result: unknown) => string,
): NativeFunctions {
  const out: Record<string, RawFunction> = {};
  for (const [name, s] of Object.entries(symbols)) {
    const fn = raw[name]!;
    const slots = s.args.flatMap((t, i) => (t === "ptr" ? [i] : []));
    const call: RawFunction = slots.length === 0 ? fn : (...args) => {
      for (const i of slots) args[i] = pointer(args[i] as PtrArg);
      return fn(...args);
    };
    out[name] = s.result === "cstring" ? (...args) => cstring(call(...args)) : call;
  }
  return out as unknown as NativeFunctions;
}
