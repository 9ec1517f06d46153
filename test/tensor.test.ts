// Tensors: creation, zero-copy wrapping, views, copies, device transfers and disposal.
import { describe, expect, test } from "bun:test";
import { empty, fromArray, full, rand, randn, TaoError, Tensor, zeros, type DType } from "../lib/index.ts";
import { devices, freshSeed, normals, rng } from "./helpers.ts";

/** JS reference of a transpose of a row-major array. */
function refTranspose(x: ArrayLike<number>, shape: number[], d0: number, d1: number): number[] {
  const n = x.length, out = new Array<number>(n);
  const tshape = [...shape];
  [tshape[d0], tshape[d1]] = [tshape[d1]!, tshape[d0]!];
  for (let i = 0; i < n; i++) {
    const idx: number[] = [];
    let r = i;
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d] = r % shape[d]!;
      r = Math.floor(r / shape[d]!);
    }
    [idx[d0], idx[d1]] = [idx[d1]!, idx[d0]!];
    const j = idx.reduce((acc, v, d) => acc * tshape[d]! + v, 0);
    out[j] = x[i]!;
  }
  return out;
}

/** JS reference of slicing [lo, hi) along dim of a row-major array. */
function refSlice(x: ArrayLike<number>, shape: number[], dim: number, lo: number, hi: number): number[] {
  const outer = shape.slice(0, dim).reduce((a, b) => a * b, 1);
  const inner = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
  const out: number[] = [];
  for (let o = 0; o < outer; o++) {
    for (let k = lo; k < hi; k++) {
      for (let i = 0; i < inner; i++) out.push(x[(o * shape[dim]! + k) * inner + i]!);
    }
  }
  return out;
}

describe.each(devices)("tensors on %s", (device) => {
  test("zeros, empty, full", () => {
    using z = zeros([3, 5], { dtype: "bf16", device });
    expect(z.shape).toEqual([3, 5]);
    expect(z.numel).toBe(15);
    expect(z.nbytes).toBe(30);
    expect<string>(z.device).toBe(device);
    expect([...z.toArray()]).toEqual(new Array(15).fill(0));
    using e = empty([2, 0, 4], { dtype: "i32", device });
    expect(e.numel).toBe(0);
    expect(e.toArray()).toEqual(new Int32Array(0));
    for (const [dtype, value, expected] of [
      ["f32", 0.1, Math.fround(0.1)],
      ["bf16", 1.00390625, 1], // tie between 1 and 1 + 2^-7: to even
      ["f16", 70000, Infinity],
      ["f8e4m3fn", 1000, 448],
      ["i8", -3.7, -3],
      ["u8", 300, 255],
      ["i32", 123456, 123456],
    ] as [DType, number, number][]) {
      using f = full([7], value, { dtype, device });
      expect([...f.toArray()]).toEqual(new Array(7).fill(expected));
    }
  });

  test("fromArray converts number[] and keeps dtype, shape and values", () => {
    using a = fromArray([1, -2.5, 3.25, 65504, 1e-3, -0], { dtype: "f16", shape: [2, 3], device });
    expect(a.dtype).toBe("f16");
    expect(a.shape).toEqual([2, 3]);
    const v = a.toArray();
    expect([...v].slice(0, 4)).toEqual([1, -2.5, 3.25, 65504]);
    expect(v[4]).toBeCloseTo(1e-3, 6);
    expect(Object.is(v[5], -0)).toBe(true);
    using i = fromArray([-128, 0, 127], { dtype: "i8", device });
    expect(i.toArray()).toEqual(new Int8Array([-128, 0, 127]));
  });

  test("reshape is a view sharing storage, with a size check", () => {
    using t = fromArray(new Float32Array(24).map((_, i) => i), { device });
    const r = t.reshape(2, -1, 4);
    expect(r.shape).toEqual([2, 3, 4]);
    expect(r.storage).toBe(t.storage);
    expect([...r.toArray()]).toEqual([...t.toArray()]);
    expect(() => t.reshape(5, 5)).toThrow(TaoError);
    expect(() => t.reshape(-1, -1)).toThrow(TaoError);
    r.dispose();
    expect(t.disposed).toBe(true);
  });

  test("transpose matches a JS reference over shapes and dtypes", () => {
    const next = rng(freshSeed());
    for (const [shape, d0, d1] of [
      [[3, 5], 0, 1],
      [[1, 7], 0, 1],
      [[2, 3, 4], 0, 2],
      [[2, 3, 4], -1, 1],
      [[4, 1, 3, 2], 1, 3],
      [[5], 0, 0],
    ] as [number[], number, number][]) {
      for (const dtype of ["f32", "bf16", "i8", "i32"] as DType[]) {
        const n = shape.reduce((a, b) => a * b, 1);
        const values = Array.from({ length: n }, () => Math.round((next() - 0.5) * 200));
        using t = fromArray(values, { dtype, shape, device });
        using tt = t.transpose(d0, d1);
        const a = d0 < 0 ? d0 + shape.length : d0, b = d1 < 0 ? d1 + shape.length : d1;
        const expectedShape = [...shape];
        [expectedShape[a], expectedShape[b]] = [expectedShape[b]!, expectedShape[a]!];
        expect(tt.shape).toEqual(expectedShape);
        expect([...tt.toArray()]).toEqual(refTranspose(t.toArray(), shape, a, b));
      }
    }
    using t = zeros([2, 3], { device });
    expect(() => t.transpose(0, 2)).toThrow(TaoError);
  });

  test("slice matches a JS reference, with negative and clamped bounds", () => {
    const shape = [4, 6, 3];
    const x = normals(rng(freshSeed()), 72);
    using t = fromArray(x, { shape, device });
    for (const [dim, start, end, lo, hi] of [
      [0, 1, 3, 1, 3],
      [1, 2, undefined, 2, 6],
      [2, -2, undefined, 1, 3],
      [1, 0, 100, 0, 6],
      [0, 3, 1, 3, 3],
      [-1, 0, 1, 0, 1],
    ] as [number, number, number | undefined, number, number][]) {
      using s = t.slice(dim, start, end);
      const d = dim < 0 ? dim + 3 : dim;
      expect(s.shape[d]).toBe(hi - lo);
      expect([...s.toArray()]).toEqual(refSlice(x, shape, d, lo, hi));
    }
  });

  test("to() copies between devices and returns the same tensor when already there", () => {
    // `to` may return its receiver, so results are disposed only when they are copies.
    using t = rand([5, 9], { dtype: "bf16", device, seed: 3 });
    expect(t.to(device)).toBe(t);
    const host = t.to("cpu");
    expect(host.device).toBe("cpu");
    expect(host.toArray()).toEqual(t.toArray());
    for (const target of devices) {
      const u = host.to(target);
      expect<string>(u.device).toBe(target);
      expect(u === host).toBe(target === "cpu");
      expect(u.toArray()).toEqual(t.toArray());
      if (u !== host) u.dispose();
    }
    if (host !== t) host.dispose();
  });

  test("dispose: idempotent, use after dispose throws INVALID_ARGUMENT naming the method", () => {
    const t = zeros([4], { device });
    t.dispose();
    t.dispose();
    expect(t.disposed).toBe(true);
    for (const [name, use] of [
      ["Tensor.cast", () => t.cast("f16")],
      ["Tensor.to", () => t.to("cpu")],
      ["Tensor.transpose", () => t.transpose(0, 0)],
      ["Tensor.slice", () => t.slice(0, 0, 1)],
      ["Tensor.reshape", () => t.reshape(2, 2)],
    ] as [string, () => unknown][]) {
      let error: unknown;
      try {
        use();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(TaoError);
      expect((error as TaoError).codeName).toBe("INVALID_ARGUMENT");
      expect((error as TaoError).op).toBe(name);
    }
  });

  test("`using` disposes at the end of the block", () => {
    let escaped: Tensor;
    {
      using t = zeros([2], { device });
      escaped = t;
      expect(t.disposed).toBe(false);
    }
    expect(escaped.disposed).toBe(true);
  });
});

describe("host tensors", () => {
  test("fromArray wraps a matching TypedArray without copying", () => {
    const data = new Float32Array([1, 2, 3, 4, 5, 6]);
    const t = fromArray(data, { shape: [2, 3] });
    expect(t.hostData()).toBe(data);
    data[4] = 42;
    expect(t.toArray()[4]).toBe(42);
    const bits = new Uint16Array([0x3f80, 0xc000]);
    const b = fromArray(bits, { dtype: "bf16" });
    bits[1] = 0x4040;
    expect([...b.toArray()]).toEqual([1, 3]);
    expect(fromArray(new Int8Array([1, -1])).dtype).toBe("i8");
  });

  test("fromArray rejects bad sizes, values and ambiguous arrays", () => {
    expect(() => fromArray([1, 2, 3], { shape: [2, 2] })).toThrow(TaoError);
    expect(() => fromArray([1.5], { dtype: "i8" })).toThrow(TaoError);
    expect(() => fromArray([128], { dtype: "i8" })).toThrow(TaoError);
    expect(() => fromArray(new Uint16Array(2))).toThrow(TaoError);
  });

  test("toArray returns a copy", () => {
    const data = new Int32Array([7, 8]);
    const t = fromArray(data);
    const out = t.toArray();
    out[0] = 0;
    expect(data[0]).toBe(7);
  });

  test("dispose drops the TypedArray", () => {
    const t = fromArray(new Float32Array(3));
    t.dispose();
    expect(() => t.hostData()).toThrow(TaoError);
  });
});

describe("clone and copyFrom", () => {
  for (const device of devices) {
    test(`clone is an independent copy, copyFrom writes in place (${device})`, () => {
      using a = randn([3, 5], { seed: 11, device });
      using b = a.clone();
      expect(Array.from(b.toArray())).toEqual(Array.from(a.toArray()));
      using z = zeros([15], { device });
      expect(z.copyFrom(a.reshape(15))).toBe(z);
      expect(Array.from(z.toArray())).toEqual(Array.from(a.toArray()));
      using c = randn([3, 5], { seed: 12, device });
      a.copyFrom(c);
      expect(Array.from(b.toArray())).not.toEqual(Array.from(a.toArray()));
      using wrong = zeros([15], { dtype: "bf16", device });
      expect(() => wrong.copyFrom(a)).toThrow(TaoError);
    });
  }
});
