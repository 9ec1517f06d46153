/**
 * quantize(model, config): swaps the weights of a model's Linear layers for AffineQuantizedTensors,
 * in place (torchao's quantize_). Configs: int8WeightOnly, int4WeightOnly. A config names its
 * layout; the layout's file registers the linear that runs it (lib/dtypes/dispatch.ts).
 */
import { invalid } from "../errors.ts";
import { finfo } from "../dtypes.ts";
import { Tensor } from "../tensor.ts";
import { Linear, type Module } from "../nn/index.ts";
import { AffineQuantizedTensor, quantParams, type ConfigRecord, type QuantScheme } from "../dtypes/affine_quantized_tensor.ts";
import { PlainLayout } from "../dtypes/plain_layout.ts";
import { TensorCoreTiledLayout, TINYGEMM_GROUP_SIZES, type InnerKTiles } from "../dtypes/tensor_core_tiled.ts";
import { MappingType, perGroup, perRow, ZeroPointDomain } from "./primitives.ts";
import { hqqGroups } from "./hqq.ts";
import { int4Weight } from "./int4_groups.ts";

/** What quantize() does to each selected Linear's weight. */
export interface QuantConfig {
  /** The config's name and options, recorded per layer in checkpoints. */
  readonly record: ConfigRecord;
  /** Why `weight` ([N, K]) stays as it is under this config, or null. */
  skipReason(weight: Tensor): string | null;
  /** The quantized weight (new tensors; `weight` is left as it is). */
  quantizeWeight(weight: Tensor): AffineQuantizedTensor;
}

/**
 * torchao's int8_weight_only: int8 per output channel (blocks [1, K]), symmetric, zero point 0
 * (INT domain, i32), scale in the weight's dtype, eps = f32 machine epsilon. Plain layout, whose
 * int8 kernel entry recognizes these weights by their record (name "int8_weight_only").
 */
export function int8WeightOnly(): QuantConfig {
  const record = { name: "int8_weight_only" };
  const layout = new PlainLayout();
  return {
    record,
    skipReason: () => null,
    quantizeWeight: (w) => AffineQuantizedTensor.fromFloat(w, {
      mappingType: MappingType.SYMMETRIC, blockSize: perRow(w.shape), targetDtype: "int8",
      zeroPointDomain: ZeroPointDomain.INT, eps: finfo("f32").eps,
    }, layout, record),
  };
}

/** Options of int4WeightOnly (torchao's int4_weight_only arguments). */
export interface Int4WeightOnlyOptions {
  /** Elements of a row sharing one scale and zero point (default 128; tensor_core_tiled: 32, 64, 128 or 256). */
  groupSize?: number;
  /** "tensor_core_tiled" (default, tinygemm's packing) or "plain". */
  layout?: "tensor_core_tiled" | "plain";
  /** FLOAT (default, tinygemm's convention) or INT (plain layout only). */
  zeroPointDomain?: ZeroPointDomain;
  /** tensor_core_tiled's inner k tiles (default 8). */
  innerKTiles?: InnerKTiles;
  /** Choose scale and zero point with HQQ's half-quadratic solver (lib/quantization/hqq.ts) instead of min/max (FLOAT domain only; default false). */
  hqq?: boolean;
}

/**
 * torchao's int4_weight_only: uint4 [0, 15], asymmetric, per group of `groupSize` along K, bf16
 * scales, eps 1e-6. FLOAT domain: bf16 zero points, preserveZero false (tinygemm's convention).
 * INT domain: i32 zero points, preserveZero true. A weight whose K the group size does not divide
 * stays as it is (as torchao does). With the tensor_core_tiled layout, a weight it cannot hold
 * (N % 8 != 0, or K % (innerKTiles·16) != 0) is stored in the plain layout instead: the same
 * quantized values (and, in bf16, the same dequantized weight) without tinygemm's packing.
 * hqq: scale and zero point from HQQ's calibration-free optimizer, stored the same way.
 */
export function int4WeightOnly(opts: Int4WeightOnlyOptions = {}): QuantConfig {
  const op = "int4WeightOnly";
  const { groupSize = 128, layout = "tensor_core_tiled", zeroPointDomain = ZeroPointDomain.FLOAT, innerKTiles = 8, hqq = false } = opts;
  if (!Number.isSafeInteger(groupSize) || groupSize < 1) throw invalid(op, `groupSize must be a positive integer, not ${groupSize}`);
  if (layout !== "tensor_core_tiled" && layout !== "plain") throw invalid(op, `layout must be "tensor_core_tiled" or "plain", not ${JSON.stringify(layout)}`);
  const isFloat = zeroPointDomain === ZeroPointDomain.FLOAT;
  if (!isFloat && zeroPointDomain !== ZeroPointDomain.INT) throw invalid(op, `zeroPointDomain must be FLOAT or INT, not ${zeroPointDomain}`);
  const tiled = layout === "tensor_core_tiled" ? new TensorCoreTiledLayout(innerKTiles) : null;
  if (tiled && !isFloat) throw invalid(op, `the tensor_core_tiled layout needs zeroPointDomain FLOAT; use layout "plain" for INT`);
  if (hqq && !isFloat) throw invalid(op, "hqq needs zeroPointDomain FLOAT");
  if (tiled && !TINYGEMM_GROUP_SIZES.includes(groupSize)) {
    throw invalid(op, `the tensor_core_tiled layout needs groupSize ${TINYGEMM_GROUP_SIZES.join(", ")}, not ${groupSize}`);
  }
  const plain = new PlainLayout();
  const record = {
    name: "int4_weight_only", groupSize, layout, zeroPointDomain: isFloat ? "FLOAT" : "INT", ...(tiled ? { innerKTiles } : {}), ...(hqq ? { hqq } : {}),
  };
  return {
    record,
    skipReason: (w) => (w.shape[1]! % groupSize === 0 ? null : `K = ${w.shape[1]} is not a multiple of groupSize ${groupSize}`),
    quantizeWeight: (w) => {
      if (hqq) {
        const [n, k] = w.shape as [number, number];
        return int4Weight(hqqGroups(w.toArray(), n, k, groupSize), { dtype: w.dtype, device: w.device, layout, innerKTiles }, record);
      }
      const scheme: QuantScheme = {
        mappingType: MappingType.ASYMMETRIC, blockSize: perGroup(w.shape, groupSize), targetDtype: "uint4", zeroPointDomain,
        preserveZero: !isFloat, scaleDtype: "bf16", zeroPointDtype: isFloat ? "bf16" : "i32", eps: 1e-6,
      };
      const target = tiled !== null && tiled.unsupported(quantParams(w, scheme)) === null ? tiled : plain;
      return AffineQuantizedTensor.fromFloat(w, scheme, target, record);
    },
  };
}

/** Options of quantize(). */
export interface QuantizeOptions {
  /** Which Linear layers to quantize, asked with the module and its qualified name (default: all). */
  filter?: (module: Linear, name: string) => boolean;
}

/** What quantize() did: the layers it quantized (with the layout used) and the ones it left alone. */
export interface QuantizeReport {
  quantized: { name: string; layout: string }[];
  skipped: { name: string; reason: string }[];
}

/**
 * Quantizes, in place, the weight of every Linear of `model` that `opts.filter` accepts: the
 * layer's weight becomes config.quantizeWeight(weight) and the float weight is disposed. Layers
 * already quantized, and those the config declines (skipReason), stay as they are and are reported.
 * On a failure, the layers before it stay quantized.
 */
export function quantize(model: Module, config: QuantConfig, opts: QuantizeOptions = {}): QuantizeReport {
  const report: QuantizeReport = { quantized: [], skipped: [] };
  for (const [name, m] of model.namedModules()) {
    if (!(m instanceof Linear) || (opts.filter && !opts.filter(m, name))) continue;
    const weight = m.weight;
    if (!(weight instanceof Tensor)) {
      report.skipped.push({ name, reason: "already quantized" });
      continue;
    }
    const reason = config.skipReason(weight);
    if (reason !== null) {
      report.skipped.push({ name, reason });
      continue;
    }
    const q = config.quantizeWeight(weight);
    m.setParameter("weight", q);
    weight.dispose();
    report.quantized.push({ name, layout: q.layout.name });
  }
  return report;
}

/**
 * torchao's sparsify_: quantize() for a sparsity config (semiSparseWeight,
 * int8DynamicActivationInt8SemiSparseWeight: records with a "sparsity" entry), so sparse and
 * quantized layers are made, reported and saved the same way. A config without sparsity is a TaoError.
 */
export function sparsify(model: Module, config: QuantConfig, opts: QuantizeOptions = {}): QuantizeReport {
  if (config.record.sparsity === undefined) throw invalid("sparsify", `${JSON.stringify(config.record.name)} is not a sparsity config (use quantize)`);
  return quantize(model, config, opts);
}
