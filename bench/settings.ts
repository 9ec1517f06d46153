/**
 * The quantization settings the primitives benchmark and the demo run on a Llama-shaped weight:
 * each is one call of chooseQParamsAffine + quantizeAffine with torchao's arguments for that scheme.
 */
import { MappingType, perGroup, perRow, perTensor, ZeroPointDomain, type ChooseQParamsOptions, type TargetDtype } from "../lib/index.ts";

export interface Setting {
  name: string;
  /** torchao equivalent, for the reader. */
  torchao: string;
  mapping: MappingType;
  target: TargetDtype;
  block: (shape: readonly number[]) => number[];
  opts: ChooseQParamsOptions;
  /** Bits per weight of the packed format this setting feeds (int4 packs two per byte later). */
  bits: number;
}

const tinygemm = (g: number): Setting => ({
  name: `uint4 asym g${g} (float zp)`,
  torchao: `int4_weight_only(group_size=${g})`,
  mapping: MappingType.ASYMMETRIC,
  target: "uint4",
  block: (s) => perGroup(s, g),
  opts: { zeroPointDomain: ZeroPointDomain.FLOAT, preserveZero: false, scaleDtype: "bf16", zeroPointDtype: "bf16", eps: 1e-6 },
  bits: 4,
});

export const settings: Setting[] = [
  {
    name: "int8 sym per-row",
    torchao: "int8_weight_only()",
    mapping: MappingType.SYMMETRIC,
    target: "int8",
    block: perRow,
    opts: { eps: 2 ** -23, scaleDtype: "bf16" },
    bits: 8,
  },
  {
    name: "int8 sym per-tensor",
    torchao: "choose_qparams_affine(block=shape, SYMMETRIC, int8)",
    mapping: MappingType.SYMMETRIC,
    target: "int8",
    block: perTensor,
    opts: { eps: 2 ** -23, scaleDtype: "f32" },
    bits: 8,
  },
  {
    name: "uint8 asym per-row",
    torchao: "choose_qparams_affine(ASYMMETRIC, uint8)",
    mapping: MappingType.ASYMMETRIC,
    target: "uint8",
    block: perRow,
    opts: { eps: 2 ** -23, scaleDtype: "f32" },
    bits: 8,
  },
  tinygemm(32),
  tinygemm(64),
  tinygemm(128),
  {
    name: "int4 sym g32",
    torchao: "int8_dynamic_activation_int4_weight(group_size=32) weights",
    mapping: MappingType.SYMMETRIC,
    target: "int4",
    block: (s) => perGroup(s, 32),
    opts: { eps: 2 ** -23, scaleDtype: "bf16" },
    bits: 4,
  },
  {
    name: "fp8 e4m3 per-row",
    torchao: "float8_weight_only / PerRow()",
    mapping: MappingType.SYMMETRIC,
    target: "float8_e4m3fn",
    block: perRow,
    opts: { zeroPointDomain: ZeroPointDomain.NONE, scaleDtype: "f32", eps: 1e-12 },
    bits: 8,
  },
  {
    name: "fp8 e4m3 per-tensor",
    torchao: "float8_dynamic_activation_float8_weight(PerTensor())",
    mapping: MappingType.SYMMETRIC,
    target: "float8_e4m3fn",
    block: perTensor,
    opts: { zeroPointDomain: ZeroPointDomain.NONE, scaleDtype: "f32", eps: 1e-12 },
    bits: 8,
  },
  {
    name: "fp8 e5m2 per-row",
    torchao: "float8 e5m2, PerRow()",
    mapping: MappingType.SYMMETRIC,
    target: "float8_e5m2",
    block: perRow,
    opts: { zeroPointDomain: ZeroPointDomain.NONE, scaleDtype: "f32", eps: 1e-12 },
    bits: 8,
  },
];
