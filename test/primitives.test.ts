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
  chooseQParamsAffine, dequantizeAffine, fakeQuantizeAffine, fromArray, MappingType, perGroup, perRow,
  perTensor, quantizeAffine, targetInfo, ZeroPointDomain, type DType, type TargetDtype,
} from "../lib/index.ts";
import {
  blockIndex, devices, freshSeed, mismatches, normals, refChooseQParams, refDequantize, refQuantize, rng,
  sqnr, type RefScheme,
} from "./helpers.ts";

interface Combo {
  mapping: MappingType;
  domain: ZeroPointDomain;
  target: TargetDtype;
  preserveZero: boolean;
  quantMin?: number;
  quantMax?: number;
}

const INT_TARGETS: TargetDtype[] = ["int8", "uint8", "int4", "uint4"];
const SIGNED = new Set<TargetDtype>(["int8", "int4"]);
const { SYMMETRIC, SYMMETRIC_NO_CLIPPING_ERR, ASYMMETRIC } = MappingType;
const { INT, FLOAT, NONE } = ZeroPointDomain;

/** Every combination torchao allows (symmetric: preserve zero, INT or NONE; FLOAT: asymmetric). */
const COMBOS: Combo[] = [
  ...INT_TARGETS.flatMap((target): Combo[] => [
    { mapping: SYMMETRIC, domain: INT, target, preserveZero: true },
    { mapping: SYMMETRIC, domain: NONE, target, preserveZero: true },
    ...(SIGNED.has(target)
      ? [
        { mapping: SYMMETRIC_NO_CLIPPING_ERR, domain: INT, target, preserveZero: true },
        { mapping: SYMMETRIC_NO_CLIPPING_ERR, domain: NONE, target, preserveZero: true },
      ] as Combo[]
      : []),
    { mapping: ASYMMETRIC, domain: INT, target, preserveZero: true },
    { mapping: ASYMMETRIC, domain: FLOAT, target, preserveZero: true },
    { mapping: ASYMMETRIC, domain: FLOAT, target, preserveZero: false },
    { mapping: ASYMMETRIC, domain: INT, target, preserveZero: false },
    { mapping: ASYMMETRIC, domain: NONE, target, preserveZero: true },
  ]),
  { mapping: SYMMETRIC, domain: INT, target: "int8", preserveZero: true, quantMin: -127, quantMax: 127 },
  { mapping: ASYMMETRIC, domain: INT, target: "int32", preserveZero: true, quantMin: -1000, quantMax: 3000 },
  { mapping: SYMMETRIC, domain: NONE, target: "float8_e4m3fn", preserveZero: true },
  { mapping: SYMMETRIC, domain: NONE, target: "float8_e5m2", preserveZero: true },
];

/** Granularities, each with the shapes it is tried on (K = 96, 200, 4100 are not multiples of 128). */
const GRANULARITIES: { name: string; block: (shape: number[]) => number[]; shapes: number[][] }[] = [
  { name: "per-tensor", block: perTensor, shapes: [[1, 200], [7, 96], [3, 5, 33]] },
  { name: "per-row", block: perRow, shapes: [[1, 4100], [9, 200], [2, 3, 96]] },
  { name: "per-group 32", block: (s) => perGroup(s, 32), shapes: [[1, 96], [5, 224], [2, 3, 64]] },
  { name: "per-group 64", block: (s) => perGroup(s, 64), shapes: [[3, 192], [1, 4096]] },
  { name: "per-group 128", block: (s) => perGroup(s, 128), shapes: [[11, 384], [1, 128]] },
  { name: "per-block 2-D", block: (s) => s.map((d, i) => (i === s.length - 1 ? 32 : Math.min(d, 4))), shapes: [[8, 96], [4, 160], [2, 8, 64]] },
];

const INPUT_DTYPES: DType[] = ["f32", "bf16", "f16"];
const SQNR_FLOOR: Partial<Record<TargetDtype, number>> = {
  int8: 30, uint8: 30, int32: 60, int4: 9, uint4: 9, float8_e4m3fn: 25, float8_e5m2: 19,
};

function describeCombo(c: Combo): string {
  const m = Object.entries(MappingType).find(([, v]) => v === c.mapping)![0];
  const d = Object.entries(ZeroPointDomain).find(([, v]) => v === c.domain)![0];
  const range = c.quantMin !== undefined ? ` [${c.quantMin}, ${c.quantMax}]` : "";
  return `${c.target}${range} ${m} ${d}${c.preserveZero ? "" : " no-preserve-zero"}`;
}

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
  const next = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const std = [1e-3, 1, 40][Math.floor(next() * 3)]!;
  const shift = c.mapping === ASYMMETRIC ? (next() - 0.3) * 3 * std : 0;
  const raw = normals(next, n, std).map((v) => v + shift);
  for (let i = 0; i < n; i += 17) raw[i] = 0; // exact zeros, which preserve_zero must keep exact
  using x = fromArray(raw, { shape, dtype, device });
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
  let k = 0;
  const cases = COMBOS.flatMap((c) =>
    GRANULARITIES.flatMap((g) => {
      // Rotate shapes and input dtypes across combos so every pair is covered without a full product.
      const shape = g.shapes[k % g.shapes.length]!;
      const dtype = INPUT_DTYPES[k++ % INPUT_DTYPES.length]!;
      return [[`${describeCombo(c)}, ${g.name} [${shape}] ${dtype}`, c, shape, g.block(shape), dtype] as const];
    })
  );
  test.each(cases)(`%s (seed ${runSeed})`, (_name, c, shape, block, dtype) => {
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
