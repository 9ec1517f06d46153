// Property tests (fast-check) of the affine primitives on the CPU.
import { expect, test } from "bun:test";
import fc from "fast-check";
import {
  chooseQParamsAffine, dequantizeAffine, fakeQuantizeAffine, fromArray, MappingType, quantizeAffine,
  ZeroPointDomain, type TargetDtype,
} from "../lib/index.ts";
import { blockIndex, mismatches } from "./helpers.ts";

/** Rows of finite float32 values, as [rows, cols] plus the flat data. */
const matrix = (max: number) =>
  fc.integer({ min: 1, max: 6 }).chain((rows) =>
    fc.integer({ min: 1, max: 70 }).chain((cols) =>
      fc.array(fc.float({ noNaN: true, noDefaultInfinity: true, min: -max, max }), {
        minLength: rows * cols,
        maxLength: rows * cols,
      }).map((data) => ({ shape: [rows, cols], data }))
    )
  );

test("asymmetric: |dequantize(quantize(x)) - x| <= scale / 2 for x in its block's range", () => {
  fc.assert(
    fc.property(matrix(1e4), fc.constantFrom<TargetDtype>("uint8", "uint4", "int8", "int4"), ({ shape, data }, target) => {
      const block = [1, shape[1]!];
      using x = fromArray(data, { shape });
      const { scale, zeroPoint } = chooseQParamsAffine(x, MappingType.ASYMMETRIC, block, target);
      using _s = scale;
      using _z = zeroPoint!;
      using q = quantizeAffine(x, block, scale, zeroPoint, target);
      using dq = dequantizeAffine(q, block, scale, zeroPoint, target);
      const s = scale.toArray(), d = dq.toArray(), xs = x.toArray();
      const blocks = blockIndex(shape, block);
      for (let i = 0; i < xs.length; i++) {
        const si = s[blocks[i]!]!;
        // Half a step, plus float32 rounding of x * (1 / s) and of (q - zp) * s.
        expect(Math.abs(d[i]! - xs[i]!)).toBeLessThanOrEqual(si * (0.5 + 1e-4) + Math.abs(xs[i]!) * 2 ** -22);
      }
    }),
    { numRuns: 150 },
  );
});

test("symmetric int8: quantizing -x gives the negated codes", () => {
  fc.assert(
    fc.property(matrix(1e3), fc.boolean(), ({ shape, data }, restricted) => {
      // [-127, 127] is exactly odd-symmetric; the default [-128, 127] differs only at the clamp edge.
      const range = restricted ? { quantMin: -127, quantMax: 127 } : {};
      const block = [1, shape[1]!];
      const codes = (values: number[]) => {
        using x = fromArray(values, { shape });
        const { scale, zeroPoint } = chooseQParamsAffine(x, MappingType.SYMMETRIC, block, "int8", range);
        using _s = scale;
        using _z = zeroPoint!;
        using q = quantizeAffine(x, block, scale, zeroPoint, "int8", range);
        return q.toArray();
      };
      const pos = codes(data), neg = codes(data.map((v) => -v));
      for (let i = 0; i < pos.length; i++) {
        const edge = !restricted && Math.abs(pos[i]!) >= 127 && Math.abs(neg[i]!) >= 127;
        if (!edge) expect(neg[i]).toBe(-pos[i]! + 0);
      }
    }),
    { numRuns: 150 },
  );
});

test("fakeQuantize equals dequantize(quantize) bit for bit", () => {
  const schemes = fc.constantFrom(
    { mapping: MappingType.ASYMMETRIC, domain: ZeroPointDomain.INT, target: "uint8" as TargetDtype },
    { mapping: MappingType.ASYMMETRIC, domain: ZeroPointDomain.FLOAT, target: "uint4" as TargetDtype },
    { mapping: MappingType.SYMMETRIC, domain: ZeroPointDomain.INT, target: "int4" as TargetDtype },
    { mapping: MappingType.SYMMETRIC, domain: ZeroPointDomain.NONE, target: "float8_e4m3fn" as TargetDtype },
  );
  fc.assert(
    fc.property(matrix(100), schemes, fc.constantFrom("f32" as const, "bf16" as const), ({ shape, data }, sc, dtype) => {
      const block = [1, shape[1]!];
      const opts = { zeroPointDomain: sc.domain };
      using x = fromArray(data, { shape, dtype });
      const { scale, zeroPoint } = chooseQParamsAffine(x, sc.mapping, block, sc.target, opts);
      using _s = scale;
      using _z = zeroPoint ?? undefined;
      using q = quantizeAffine(x, block, scale, zeroPoint, sc.target, opts);
      using dq = dequantizeAffine(q, block, scale, zeroPoint, sc.target, { ...opts, outputDtype: dtype });
      using fq = fakeQuantizeAffine(x, block, scale, zeroPoint, sc.target, opts);
      expect(mismatches(fq.toArray(), dq.toArray(), true)).toEqual([]);
    }),
    { numRuns: 150 },
  );
});
