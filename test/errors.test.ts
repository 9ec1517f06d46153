// Bad inputs become TaoErrors with the right code and op, and the process carries on.
import { afterAll, describe, expect, test } from "bun:test";
import {
  chooseQParamsAffine, dequantizeAffine, empty, fromArray, MappingType, perRow, quantizeAffine, randn,
  TaoError, Tensor, ZeroPointDomain, zeros, type ErrorCodeName,
} from "../lib/index.ts";
import { devices, hasCuda, taoError } from "./helpers.ts";

function expectTaoError(fn: () => unknown, code: ErrorCodeName, op?: string, message?: RegExp): void {
  const e = taoError(fn);
  expect(e.codeName).toBe(code);
  if (op !== undefined) expect(e.op).toBe(op);
  if (message !== undefined) expect(e.message).toMatch(message);
}

describe.each(devices)("affine primitives reject bad inputs on %s", (device) => {
  const x = randn([4, 64], { seed: 1, device });
  const { scale, zeroPoint } = chooseQParamsAffine(x, MappingType.ASYMMETRIC, perRow(x.shape), "uint8");
  afterAll(() => [x, scale, zeroPoint].forEach((t) => t?.dispose()));

  test("scale with the wrong number of elements (checked in TS)", () => {
    using bad = zeros([3], { device });
    expectTaoError(() => quantizeAffine(x, [1, 64], bad, zeroPoint, "uint8"), "INVALID_ARGUMENT", "quantizeAffine", /scale has 3/);
    expectTaoError(() => quantizeAffine(x, [1, 32], scale, zeroPoint, "uint8"), "INVALID_ARGUMENT", "quantizeAffine", /needs 8/);
  });

  test("block size that does not divide a dim (checked in C)", () => {
    expectTaoError(() => chooseQParamsAffine(x, MappingType.SYMMETRIC, [1, 48], "int8"), "INVALID_ARGUMENT",
      "chooseQParamsAffine", /tao_choose_qparams_affine.*block_size\[1\]=48/);
  });

  test("block size of the wrong rank or non-positive (checked in TS)", () => {
    expectTaoError(() => chooseQParamsAffine(x, MappingType.SYMMETRIC, [64], "int8"), "INVALID_ARGUMENT", "chooseQParamsAffine");
    expectTaoError(() => chooseQParamsAffine(x, MappingType.SYMMETRIC, [0, 64], "int8"), "INVALID_ARGUMENT", "chooseQParamsAffine");
  });

  test("wrong dtypes: integer input to choose_qparams, float input to dequantize", () => {
    using ints = zeros([4, 64], { dtype: "i32", device });
    expectTaoError(() => chooseQParamsAffine(ints, MappingType.SYMMETRIC, [1, 64], "int8"), "INVALID_ARGUMENT",
      "chooseQParamsAffine", /tao_choose_qparams_affine/);
    expectTaoError(() => dequantizeAffine(x, [1, 64], scale, zeroPoint, "uint8"), "INVALID_ARGUMENT", "dequantizeAffine");
  });

  test("combinations torchao forbids", () => {
    expectTaoError(() => chooseQParamsAffine(x, MappingType.SYMMETRIC, [1, 64], "int8", { zeroPointDomain: ZeroPointDomain.FLOAT }),
      "INVALID_ARGUMENT", "chooseQParamsAffine", /FLOAT/);
    expectTaoError(() => chooseQParamsAffine(x, MappingType.SYMMETRIC, [1, 64], "int8", { preserveZero: false }),
      "INVALID_ARGUMENT", "chooseQParamsAffine", /preserve_zero/);
    expectTaoError(() => chooseQParamsAffine(x, MappingType.ASYMMETRIC, [1, 64], "float8_e4m3fn"), "INVALID_ARGUMENT");
    expectTaoError(() => chooseQParamsAffine(x, MappingType.SYMMETRIC, [1, 64], "float8_e5m2", { zeroPointDomain: ZeroPointDomain.INT }),
      "INVALID_ARGUMENT");
    expectTaoError(() => chooseQParamsAffine(x, MappingType.SYMMETRIC, [1, 64], "int4", { quantMin: -200 }), "INVALID_ARGUMENT");
    expectTaoError(() => chooseQParamsAffine(x, MappingType.SYMMETRIC, [1, 64], "int8", { quantMin: 5, quantMax: 5 }), "INVALID_ARGUMENT");
  });

  test("a disposed tensor is rejected before reaching C", () => {
    const gone = randn([4, 64], { device });
    gone.dispose();
    expectTaoError(() => chooseQParamsAffine(gone, MappingType.SYMMETRIC, [1, 64], "int8"), "INVALID_ARGUMENT", "chooseQParamsAffine", /disposed/);
    expectTaoError(() => quantizeAffine(gone, [1, 64], scale, zeroPoint, "uint8"), "INVALID_ARGUMENT", "quantizeAffine", /disposed/);
    expectTaoError(() => gone.toArray(), "INVALID_ARGUMENT", "Tensor.to", /disposed/);
  });

  test("tensors on different devices: DEVICE_MISMATCH in TS", () => {
    // A tensor claiming another device (sharing this storage): the check is by device name, before C.
    const other = device === "cpu" ? "cuda:7" : "cpu";
    const elsewhere = new Tensor(scale.dtype, scale.shape, other, scale.storage);
    expectTaoError(() => quantizeAffine(x, [1, 64], elsewhere, zeroPoint, "uint8"), "DEVICE_MISMATCH", "quantizeAffine", /different devices/);
  });
});

test.skipIf(!hasCuda)("a CPU tensor and a cuda:0 tensor in one op: DEVICE_MISMATCH", () => {
  using x = randn([2, 32], { device: "cuda:0" });
  using s = zeros([2]);
  expectTaoError(() => quantizeAffine(x, [1, 32], s, null, "int8", { zeroPointDomain: ZeroPointDomain.NONE }), "DEVICE_MISMATCH");
});

describe.each(devices)("allocation failure on %s", (device) => {
  test("1 PiB is OUT_OF_MEMORY and the process stays usable", () => {
    expectTaoError(() => empty([2 ** 50], { dtype: "u8", device }), "OUT_OF_MEMORY", "empty");
    expectTaoError(() => zeros([2 ** 48, 4], { dtype: "f32", device }), "OUT_OF_MEMORY");
    expectTaoError(() => empty([2 ** 40, 2 ** 40], { device }), "OUT_OF_MEMORY");
    using after = fromArray([1, 2, 3], { device });
    expect([...after.cast("bf16").toArray()]).toEqual([1, 2, 3]);
  });
});

test("bad shapes and device names are INVALID_ARGUMENT", () => {
  expectTaoError(() => zeros([2, -1]), "INVALID_ARGUMENT", "empty");
  expectTaoError(() => zeros([1.5]), "INVALID_ARGUMENT");
  expectTaoError(() => zeros([2], { device: "gpu" }), "INVALID_ARGUMENT", "device");
  expectTaoError(() => zeros([2], { dtype: "f64" as never }), "INVALID_ARGUMENT", "dtype");
});
