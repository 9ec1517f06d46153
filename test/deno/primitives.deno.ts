// The affine primitives under Deno, on the CPU, against the float64 reference of test/helpers.ts.
import {
  chooseQParamsAffine, dequantizeAffine, fakeQuantizeAffine, fromArray, MappingType, perGroup, quantizeAffine,
  ZeroPointDomain, type TargetDtype,
} from "../../lib/index.ts";
import {
  blockIndex, mismatches, normals, refChooseQParams, refDequantize, refQuantize, rng, type RefScheme,
} from "../helpers.ts";
import { assertEquals } from "./assert.ts";

const cases: [string, number, number, TargetDtype, RefScheme][] = [
  ["int8 symmetric", MappingType.SYMMETRIC, ZeroPointDomain.INT, "int8", { mapping: 0, domain: 0, qmin: -128, qmax: 127 }],
  ["uint8 asymmetric", MappingType.ASYMMETRIC, ZeroPointDomain.INT, "uint8", { mapping: 2, domain: 0, qmin: 0, qmax: 255 }],
  ["uint4 tinygemm", MappingType.ASYMMETRIC, ZeroPointDomain.FLOAT, "uint4", { mapping: 2, domain: 1, qmin: 0, qmax: 15 }],
  ["float8 e4m3", MappingType.SYMMETRIC, ZeroPointDomain.NONE, "float8_e4m3fn", { mapping: 0, domain: 2, qmin: -448, qmax: 448, f8: "f8e4m3fn" }],
];

for (const [name, mapping, domain, target, scheme] of cases) {
  Deno.test(`${name}: choose / quantize / dequantize / fake-quantize match the reference`, () => {
    const shape = [5, 96], block = perGroup(shape, 32);
    const seed = Math.floor(Math.random() * 2 ** 31);
    using x = fromArray(normals(rng(seed), 5 * 96, 3), { shape });
    const xs = x.toArray();
    const blocks = blockIndex(shape, block);
    const opts = { zeroPointDomain: domain as ZeroPointDomain };
    const { scale, zeroPoint } = chooseQParamsAffine(x, mapping as MappingType, block, target, opts);
    const ref = refChooseQParams(xs, blocks, 15, { ...scheme, eps: 2 ** -23 }, "f32", domain === 0 ? "i32" : "f32");
    assertEquals(scale.toArray(), ref.scale, `scale (seed ${seed})`);
    if (zeroPoint) assertEquals(zeroPoint.toArray(), ref.zeroPoint, `zero point (seed ${seed})`);
    const s = [...scale.toArray()], z = zeroPoint ? [...zeroPoint.toArray()] : null;
    using q = quantizeAffine(x, block, scale, zeroPoint, target, opts);
    assertEquals(mismatches(q.toArray(), refQuantize(xs, blocks, s, z, scheme)), [], `quantize (seed ${seed})`);
    using dq = dequantizeAffine(q, block, scale, zeroPoint, target, opts);
    assertEquals(mismatches(dq.toArray(), refDequantize(q.toArray(), blocks, s, z, scheme)), [], `dequantize (seed ${seed})`);
    using fq = fakeQuantizeAffine(x, block, scale, zeroPoint, target, opts);
    assertEquals(mismatches(fq.toArray(), dq.toArray()), [], "fake-quantize");
    scale.dispose();
    zeroPoint?.dispose();
  });
}
