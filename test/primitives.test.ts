// Affine primitives against the float64 reference of helpers.ts, over every mapping × zero-point
// domain torchao allows, every target, per-tensor / per-row / per-group / 2-D block granularity and
// awkward shapes, with fresh random inputs.
//
// Tolerance: the reference follows tao.h's formulas step by step in float32, so scales, zero points,
// quantized integers and dequantized values are required to be EXACTLY equal. (A float rounding tie
// can only differ if an implementation reorders arithmetic, which tao.h forbids; such a change shows
// up here as a failure rather than being absorbed by a tolerance.)
import { describe, expect, test } from "bun:test";
import {
  chooseQParamsAffine, dequantizeAffine, fakeQuantizeAffine, fromArray, MappingType, quantizeAffine, targetInfo,
  ZeroPointDomain, type DType, type TargetDtype,
} from "../lib/index.ts";
import {
  blockIndex, devices, freshSeed, mismatches, normals, refChooseQParams, refDequantize, refQuantize, rng,
  sqnr, type RefScheme,
} from "./helpers.ts";
import { affineCases, affineInput, type Combo } from "./affine_cases.ts";

const { SYMMETRIC, ASYMMETRIC } = MappingType;
const { INT, FLOAT, NONE } = ZeroPointDomain;

const SQNR_FLOOR: Partial<Record<TargetDtype, number>> = {
  int8: 30, uint8: 30, int32: 60, int4: 9, uint4: 9, float8_e4m3fn: 25, float8_e5m2: 19,
};

/**
 * Whether a combination can represent the data at all (for the SQNR floor): without a zero point
 * the range must be centred on 0 (symmetric, signed), and the FLOAT domain (tinygemm) assumes an
 * unsigned range. The others are still checked for exactness, just not for accuracy.
 */
function meaningful(c: Combo, s: RefScheme): boolean {
  if (c.domain === NONE) return c.mapping !== ASYMMETRIC && s.qmin < 0;
  if (c.domain === FLOAT) return s.qmin >= 0;
  return true;
}

function runCase(device: string, c: Combo, shape: number[], block: number[], dtype: DType, seed: number): void {
  const n = shape.reduce((a, b) => a * b, 1);
  using x = fromArray(affineInput(c, n, seed), { shape, dtype, device });
  const xs = x.toArray(); // the values as the kernels see them (rounded to dtype)

  const info = targetInfo(c.target);
  const f8 = info.storage === "f8e4m3fn" || info.storage === "f8e5m2" ? info.storage : undefined;
  const scheme: RefScheme = {
    mapping: c.mapping, domain: c.domain, preserveZero: c.preserveZero, f8,
    qmin: c.quantMin ?? info.quantMin, qmax: c.quantMax ?? info.quantMax,
    eps: dtype === "f32" ? 2 ** -23 : dtype === "bf16" ? 2 ** -7 : 2 ** -10,
  };
  const opts = { zeroPointDomain: c.domain, preserveZero: c.preserveZero, quantMin: c.quantMin, quantMax: c.quantMax };
  const blocks = blockIndex(shape, block);
  const nBlocks = shape.reduce((a, d, i) => a * (d / block[i]!), 1);
  const zpDtype: DType = c.domain === INT ? "i32" : dtype;

  const { scale, zeroPoint } = chooseQParamsAffine(x, c.mapping, block, c.target, opts);
  using _s = scale;
  using _z = zeroPoint ?? undefined;
  expect(scale.dtype).toBe(dtype);
  expect(scale.numel).toBe(nBlocks);
  expect(zeroPoint === null).toBe(c.domain === NONE);
  const ref = refChooseQParams(xs, blocks, nBlocks, scheme, dtype, zpDtype);
  const gotScale = [...scale.toArray()];
  expect(mismatches(gotScale, ref.scale).slice(0, 3).map((i) => [i, gotScale[i], ref.scale[i]])).toEqual([]);
  const gotZp = zeroPoint ? [...zeroPoint.toArray()] : null;
  if (gotZp) expect(mismatches(gotZp, ref.zeroPoint!).slice(0, 3).map((i) => [i, gotZp[i], ref.zeroPoint![i]])).toEqual([]);

  using q = quantizeAffine(x, block, scale, zeroPoint, c.target, opts);
  expect(q.dtype).toBe(info.storage);
  const qs = q.toArray();
  const refQ = refQuantize(xs, blocks, gotScale, gotZp, scheme);
  expect(mismatches(qs, refQ).slice(0, 3).map((i) => [i, xs[i], qs[i], refQ[i]])).toEqual([]);

  using dq = dequantizeAffine(q, block, scale, zeroPoint, c.target, opts);
  expect(dq.dtype).toBe("f32");
  const dqs = dq.toArray();
  const refDq = refDequantize(qs, blocks, gotScale, gotZp, scheme);
  expect(mismatches(dqs, refDq).slice(0, 3).map((i) => [i, qs[i], dqs[i], refDq[i]])).toEqual([]);

  using dqIn = dequantizeAffine(q, block, scale, zeroPoint, c.target, { ...opts, outputDtype: dtype });
  using fq = fakeQuantizeAffine(x, block, scale, zeroPoint, c.target, opts);
  expect(fq.dtype).toBe(dtype);
  expect(mismatches(fq.toArray(), dqIn.toArray())).toEqual([]);

  const floor = SQNR_FLOOR[c.target];
  // A scale clamped to eps (tiny data, eps = finfo(bf16).eps = 2^-7) legitimately loses the signal.
  const clamped = gotScale.some((v) => v <= scheme.eps!);
  if (floor !== undefined && meaningful(c, scheme) && !clamped) {
    expect(sqnr(xs, dqs)).toBeGreaterThan(floor);
  }
}

describe.each(devices)("affine primitives vs float64 reference on %s", (device) => {
  const runSeed = freshSeed();
  test.each(affineCases())(`%s (seed ${runSeed})`, (_name, c, shape, block, dtype) => {
    runCase(device, c, shape, block, dtype, runSeed + shape.length * 7919 + block[0]!);
  });

  test("choose → quantize on a 3-D input with a 3-D block", () => {
    const c: Combo = { mapping: ASYMMETRIC, domain: INT, target: "uint8", preserveZero: true };
    runCase(device, c, [4, 6, 64], [2, 3, 32], "f32", runSeed);
  });

  test("bf16 scale and zero point dtypes are rounded once", () => {
    using x = fromArray(normals(rng(runSeed), 256), { shape: [4, 64], device });
    const { scale, zeroPoint } = chooseQParamsAffine(x, ASYMMETRIC, [1, 32], "uint4", {
      zeroPointDomain: FLOAT, scaleDtype: "bf16", zeroPointDtype: "bf16",
    });
    const blocks = blockIndex([4, 64], [1, 32]);
    const ref = refChooseQParams(x.toArray(), blocks, 8, {
      mapping: ASYMMETRIC, domain: FLOAT, qmin: 0, qmax: 15, eps: 2 ** -23,
    }, "bf16", "bf16");
    expect(scale.dtype).toBe("bf16");
    expect(zeroPoint!.dtype).toBe("bf16");
    expect([...scale.toArray()]).toEqual(ref.scale);
    expect([...zeroPoint!.toArray()]).toEqual(ref.zeroPoint!);
  });
});

describe("symmetric zero point of an asymmetric integer range", () => {
  // torchao: int((qmax + qmin + 1) / 2), a truncation; tao.h's text says floor, which differs
  // only when qmax + qmin + 1 < 0 (reported as a header doc slip). The C side truncates.
  test("trunc((qmax + qmin + 1) / 2) for [-128, 126] is 0, as torchao's int()", () => {
    using x = fromArray([-1, 0.5, 2, -3], { shape: [1, 4] });
    const { scale, zeroPoint } = chooseQParamsAffine(x, SYMMETRIC, [1, 4], "int8", { quantMin: -128, quantMax: 126 });
    using _s = scale;
    using zp = zeroPoint!;
    expect([...zp.toArray()]).toEqual([0]);
  });
});

describe.each(devices)("writing into `out` on %s", (device) => {
  test("quantize / dequantize fill the given tensor and return it; a wrong out is rejected", () => {
    using x = fromArray(normals(rng(5), 128), { shape: [2, 64], device });
    const { scale, zeroPoint } = chooseQParamsAffine(x, ASYMMETRIC, [1, 64], "uint8");
    using _s = scale;
    using _z = zeroPoint!;
    using q = quantizeAffine(x, [1, 64], scale, zeroPoint, "uint8");
    using qOut = fromArray(new Uint8Array(128), { shape: [2, 64], device });
    expect(quantizeAffine(x, [1, 64], scale, zeroPoint, "uint8", { out: qOut })).toBe(qOut);
    expect(mismatches(qOut.toArray(), q.toArray())).toEqual([]);
    using dqOut = fromArray(new Float32Array(128), { shape: [2, 64], device });
    expect(dequantizeAffine(q, [1, 64], scale, zeroPoint, "uint8", { out: dqOut })).toBe(dqOut);
    using dq = dequantizeAffine(q, [1, 64], scale, zeroPoint, "uint8");
    expect(mismatches(dqOut.toArray(), dq.toArray())).toEqual([]);
    expect(() => quantizeAffine(x, [1, 64], scale, zeroPoint, "uint8", { out: dqOut })).toThrow(/out must be u8/);
  });
});

test("NaN: a NaN in a block makes its scale NaN; NaN inputs quantize to 0 (integers) or NaN (float8)", () => {
  using x = fromArray([1, NaN, 2, -3, 0.5, 0.25], { shape: [2, 3] });
  const { scale, zeroPoint } = chooseQParamsAffine(x, SYMMETRIC, [1, 3], "int8");
  using _z = zeroPoint!;
  using s = scale;
  const sv = s.toArray();
  expect(Number.isNaN(sv[0])).toBe(true);
  expect(sv[1]).toBe(Math.fround(3 / 127.5));
  using finite = fromArray([0.1, 0.1]);
  using q = quantizeAffine(x, [1, 3], finite, null, "int8", { zeroPointDomain: NONE });
  expect([...q.toArray()]).toEqual([10, 0, 20, -30, 5, 2]);
  using q8 = quantizeAffine(x, [1, 3], finite, null, "float8_e4m3fn");
  expect(Number.isNaN(q8.toArray()[1])).toBe(true);
});
