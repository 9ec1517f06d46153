/**
 * The table of affine-quantization cases shared by the reference suite (primitives.test.ts) and
 * the backend-agreement suite (cuda.test.ts): every mapping × zero-point domain torchao allows,
 * every target, every granularity on awkward shapes, and the input generator.
 */
import { MappingType, perGroup, perRow, perTensor, ZeroPointDomain, type DType, type TargetDtype } from "../lib/index.ts";
import { normals, rng } from "./helpers.ts";

export interface Combo {
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
export const COMBOS: Combo[] = [
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
  {
    name: "per-block 2-D",
    block: (s) => s.map((d, i) => (i === s.length - 1 ? 32 : Math.min(d, 4))),
    shapes: [[8, 96], [4, 160], [2, 8, 64]],
  },
];

const INPUT_DTYPES: DType[] = ["f32", "bf16", "f16"];

/** Readable name of a combination. */
export function describeCombo(c: Combo): string {
  const m = Object.entries(MappingType).find(([, v]) => v === c.mapping)![0];
  const d = Object.entries(ZeroPointDomain).find(([, v]) => v === c.domain)![0];
  const range = c.quantMin !== undefined ? ` [${c.quantMin}, ${c.quantMax}]` : "";
  return `${c.target}${range} ${m} ${d}${c.preserveZero ? "" : " no-preserve-zero"}`;
}

export type AffineCase = readonly [name: string, combo: Combo, shape: number[], block: number[], dtype: DType];

/**
 * Every combination × every granularity; shapes and input dtypes rotate across combinations so
 * every (granularity, shape) and (combination, dtype) pair is covered without a full product.
 */
export function affineCases(): AffineCase[] {
  let k = 0;
  return COMBOS.flatMap((c) =>
    GRANULARITIES.map((g): AffineCase => {
      const shape = g.shapes[k % g.shapes.length]!;
      const dtype = INPUT_DTYPES[k++ % INPUT_DTYPES.length]!;
      return [`${describeCombo(c)}, ${g.name} [${shape}] ${dtype}`, c, shape, g.block(shape), dtype];
    })
  );
}

/**
 * Fresh input values for a case: normals of a random magnitude (1e-3, 1 or 40), shifted off zero for
 * asymmetric mappings, with exact zeros sprinkled in (which preserve_zero must keep exact).
 */
export function affineInput(c: Combo, n: number, seed: number): Float32Array {
  const next = rng(seed);
  const std = [1e-3, 1, 40][Math.floor(next() * 3)]!;
  const shift = c.mapping === ASYMMETRIC ? (next() - 0.3) * 3 * std : 0;
  const raw = normals(next, n, std).map((v) => v + shift);
  for (let i = 0; i < n; i += 17) raw[i] = 0;
  return raw;
}
