/** Minimal assertions for the Deno suite (no jsr: or network access at test time). */

export function assert(condition: unknown, message = "assertion failed"): asserts condition {
  if (!condition) throw new Error(message);
}

/** Deep equality of plain values, arrays and TypedArrays (NaN equals NaN, -0 differs from +0). */
export function assertEquals(actual: unknown, expected: unknown, message = ""): void {
  const a = normalize(actual), e = normalize(expected);
  if (JSON.stringify(a) !== JSON.stringify(e)) {
    throw new Error(`${message ? message + ": " : ""}expected ${JSON.stringify(e)}, got ${JSON.stringify(a)}`);
  }
}

function normalize(v: unknown): unknown {
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) v = Array.from(v as unknown as ArrayLike<number>);
  if (Array.isArray(v)) return v.map(normalize);
  if (typeof v === "number") return Number.isNaN(v) ? "NaN" : Object.is(v, -0) ? "-0" : v;
  if (typeof v === "bigint") return `${v}n`;
  if (v !== null && typeof v === "object") {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  }
  return v;
}

/** Runs fn, requires it to throw an instance of `type`, and returns the error. */
export function assertThrows<E extends Error>(fn: () => unknown, type: new (...args: never[]) => E): E {
  try {
    fn();
  } catch (e) {
    if (e instanceof type) return e;
    throw new Error(`expected ${type.name}, got ${e}`);
  }
  throw new Error(`expected ${type.name}, nothing was thrown`);
}
