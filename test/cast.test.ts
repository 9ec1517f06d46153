// tao_cast against the bit-exact reference encoders/decoders in helpers.ts.
import { describe, expect, test } from "bun:test";
import { fromArray, type DType } from "../lib/index.ts";
import {
  castToInt, decodeFloat, devices, encodeFloat, FORMATS, freshSeed, maxFinite, mismatches, rng, type SmallFloat,
} from "./helpers.ts";

const SMALL = Object.keys(FORMATS) as SmallFloat[];
const BITS: Record<SmallFloat, number> = { f16: 16, bf16: 16, f8e4m3fn: 8, f8e5m2: 8 };

/** tao_cast float -> integer of a float32 value (+0 for a truncated -0). */
const toInt = (v: number, lo: number, hi: number) => castToInt(Math.fround(v), lo, hi) + 0;

/** Float32 inputs: random bit patterns (all classes), random normals, ties of every format, specials. */
function f32Inputs(seed: number): Float32Array {
  const next = rng(seed);
  const values: number[] = [0, -0, Infinity, -Infinity, NaN, 2 ** -149, -(2 ** -149), 2 ** -126, 3.4028234663852886e38];
  const bits = new Uint32Array(20000).map(() => Math.floor(next() * 2 ** 32));
  values.push(...new Float32Array(bits.buffer));
  for (let i = 0; i < 5000; i++) values.push((next() - 0.5) * 2 ** Math.floor(next() * 40 - 20));
  for (const f of SMALL) {
    const max = maxFinite(FORMATS[f]);
    values.push(max, -max, max * 1.01, max * 1.1, -max * 4, 2 ** (-FORMATS[f].bias - FORMATS[f].man + 1));
    for (let i = 0; i < 2000; i++) {
      // Midpoint between a random finite code and the next: an exact tie.
      const code = Math.floor(next() * 2 ** BITS[f]);
      const a = decodeFloat(code, f), b = decodeFloat(code + 1, f);
      if (Number.isFinite(a) && Number.isFinite(b) && Math.sign(a) === Math.sign(b)) values.push((a + b) / 2);
    }
  }
  return Float32Array.from(values);
}

describe.each(devices)("tao_cast on %s", (device) => {
  const seed = freshSeed();
  const x = f32Inputs(seed);

  test.each(SMALL)(`f32 -> %s is round-to-nearest-even, bit exact (seed ${seed})`, (format) => {
    using t = fromArray(x, { device });
    using c = t.cast(format as DType);
    const got = c.to("cpu").hostData();
    const want = Array.from(x, (v) => encodeFloat(v, format));
    const bad = mismatches(
      Array.from(got, (b) => (Number.isNaN(decodeFloat(b, format)) ? -1 : b)),
      want.map((b) => (Number.isNaN(decodeFloat(b, format)) ? -1 : b)),
    );
    expect(bad.slice(0, 5).map((i) => [x[i], got[i], want[i]])).toEqual([]);
  });

  test.each(SMALL)("%s -> f32 decodes every code exactly, and back again", (format) => {
    const codes = Array.from({ length: 2 ** BITS[format] }, (_, i) => i);
    const Raw = BITS[format] === 16 ? Uint16Array : Uint8Array;
    using t = fromArray(new Raw(codes), { dtype: format as DType, device });
    using f = t.cast("f32");
    const decoded = f.toArray();
    expect(mismatches(decoded, codes.map((c) => decodeFloat(c, format)), true)).toEqual([]);
    using back = f.cast(format as DType);
    const roundTrip = back.to("cpu").hostData();
    // ±inf saturate to ±max in float8, so only finite codes come back unchanged.
    const finiteCodes = codes.filter((c) => Number.isFinite(decodeFloat(c, format)));
    expect(mismatches(finiteCodes.map((c) => roundTrip[c]!), finiteCodes)).toEqual([]);
  });

  test("float -> integer truncates toward zero and saturates, NaN -> 0", () => {
    const values = [0, -0.9, 0.9, 1.5, -1.5, 126.99, 127.5, 128, -128.7, -129, 255.9, 256, 1e10, -1e10, Infinity, -Infinity, NaN, 2147483520];
    using t = fromArray(values, { device });
    for (const [dtype, lo, hi] of [["i8", -128, 127], ["u8", 0, 255], ["i32", -(2 ** 31), 2 ** 31 - 1]] as [DType, number, number][]) {
      using c = t.cast(dtype);
      expect([...c.toArray()]).toEqual(values.map((v) => toInt(v, lo, hi)));
    }
  });

  /** tao_cast of i32 values to `format`, compared with one correct rounding. */
  function intToFloatMismatches(ints: number[], format: DType): number[] {
    using t = fromArray(Int32Array.from(ints), { device });
    using c = t.cast(format);
    const got = format === "f32" ? c.toArray() : c.to("cpu").hostData();
    return mismatches(got, ints.map((v) => (format === "f32" ? Math.fround(v) : encodeFloat(v, format as SmallFloat))));
  }

  test("integer -> float rounds to nearest even", () => {
    const next = rng(seed);
    const ints = [0, 1, -1, 2 ** 24 + 1, 2 ** 24 + 3, -(2 ** 31), 2 ** 31 - 1, 65519, 65520];
    for (let i = 0; i < 2000; i++) ints.push(Math.floor((next() - 0.5) * 2 ** 32));
    expect(intToFloatMismatches(ints, "f32")).toEqual([]);
    for (const format of ["f16", "bf16"] as DType[]) expect(intToFloatMismatches(ints, format)).toEqual([]);
  });

  // Rounding through f32 first would round twice and land this integer on the even neighbour below.
  test("integer -> bf16 rounds once (2^24 + 2^16 + 1 -> 2^24 + 2^17)", () => {
    expect(intToFloatMismatches([2 ** 24 + 2 ** 16 + 1], "bf16")).toEqual([]);
  });
});
