// dtype table: codes and sizes agree with libtao; float limits agree with the reference formats.
import { expect, test } from "bun:test";
import { dtypeCode, dtypeSize, DTYPES, finfo, hostArrayType, isFloat, native, TaoError } from "../lib/index.ts";
import { decodeFloat, encodeFloat, FORMATS, maxFinite, type SmallFloat } from "./helpers.ts";

test.each(DTYPES)("%s: size agrees with tao_dtype_size and the host array type", (dtype) => {
  const out = new Int32Array(1);
  expect(native.tao_dtype_size(dtypeCode(dtype), out)).toBe(0);
  expect(dtypeSize(dtype)).toBe(out[0]!);
  expect(hostArrayType(dtype).BYTES_PER_ELEMENT).toBe(dtypeSize(dtype));
});

test("finfo matches torch.finfo", () => {
  expect(finfo("f32")).toEqual({ eps: 2 ** -23, max: 3.4028234663852886e38 });
  expect(finfo("f16")).toEqual({ eps: 2 ** -10, max: 65504 });
  expect(finfo("bf16").eps).toBe(2 ** -7);
  expect(finfo("bf16").max).toBeCloseTo(3.3895e38, -34);
  expect(finfo("f8e4m3fn")).toEqual({ eps: 2 ** -3, max: 448 });
  expect(finfo("f8e5m2")).toEqual({ eps: 2 ** -2, max: 57344 });
  expect(() => finfo("i8")).toThrow(TaoError);
});

test.each(Object.keys(FORMATS))("%s: finfo is the format's largest value and its step at 1", (name) => {
  const f = name as SmallFloat;
  const { eps, max } = finfo(f);
  expect(max).toBe(maxFinite(FORMATS[f]));
  expect(decodeFloat(encodeFloat(1 + eps, f), f)).toBe(1 + eps);
  expect(decodeFloat(encodeFloat(1 + eps / 2, f), f)).toBe(1); // a tie, to even
  expect(isFloat(f)).toBe(true);
});

test("unknown dtypes are INVALID_ARGUMENT; C rejects unknown codes too", () => {
  expect(() => dtypeSize("f64" as never)).toThrow(TaoError);
  expect(native.tao_dtype_size(99, new Int32Array(1))).toBe(-1);
});
