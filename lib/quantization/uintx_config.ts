/**
 * uintxWeightOnly: torchao's UIntXWeightOnlyConfig — weights as 1- to 7-bit unsigned values with a
 * scale and zero point per group along K (asymmetric affine), activations in their dtype. Stored in the
 * uintx layout (lib/dtypes/uintx_layout.ts), whose dispatch entry runs linearUintx.
 */
import { invalid } from "../errors.ts";
import { finfo, type DType } from "../dtypes.ts";
import { AffineQuantizedTensor, type ConfigRecord, type QuantParams } from "../dtypes/affine_quantized_tensor.ts";
import { UintxLayout } from "../dtypes/uintx_layout.ts";
import { UINTX_BITS, UINTX_GROUP_SIZES } from "../ops/linear_uintx.ts";
import type { QuantConfig } from "./quant_api.ts";
import { MappingType, perGroup, ZeroPointDomain } from "./primitives.ts";
import { hqqGroups } from "./hqq.ts";
import { groupTensors, type Int4Groups } from "./int4_groups.ts";

/** Options of uintxWeightOnly (torchao's UIntXWeightOnlyConfig arguments). */
export interface UintxWeightOnlyOptions {
  /** Bits per value, 1..7. */
  bits: number;
  /** Values of a row sharing one scale and zero point: 32, 64 (default), 128 or 256. */
  groupSize?: number;
  /** INT (default, torchao's uintx: w = (q − z)·s, integer z, the range widened to hold 0) or FLOAT (min/max, w = (q − 2^(bits−1))·s + z). */
  zeroPointDomain?: typeof ZeroPointDomain.INT | typeof ZeroPointDomain.FLOAT;
  /** Choose scale and zero point with HQQ's half-quadratic solver (lib/quantization/hqq.ts; FLOAT domain; default false). */
  hqq?: boolean;
}

/** The QuantParams of a [n, k] weight of `dtype` quantized to `bits` bits per group of `groupSize`. */
function uintxParams(n: number, k: number, dtype: DType, bits: number, groupSize: number, domain: ZeroPointDomain): QuantParams {
  return { shape: [n, k], blockSize: [1, groupSize], targetDtype: "uint8", zeroPointDomain: domain, quantMin: 0, quantMax: 2 ** bits - 1, dtype };
}

/**
 * Host-computed groups (HQQ; values 0..2^bits − 1, FLOAT-domain bf16-representable scale and zero, the
 * form of lib/quantization/int4_groups.ts with mid 2^(bits−1)) as a uintx weight on `device`.
 */
export function uintxWeight(g: Int4Groups, bits: number, opts: { dtype: DType; device: string }, record: ConfigRecord): AffineQuantizedTensor {
  const plain = groupTensors(g, opts.device);
  const params = uintxParams(g.n, g.k, opts.dtype, bits, g.groupSize, ZeroPointDomain.FLOAT);
  return AffineQuantizedTensor.fromPlain(plain, params, new UintxLayout(), record);
}

/**
 * torchao's uintx weight-only: `bits`-bit unsigned values (uint8 target, range [0, 2^bits − 1]),
 * asymmetric, per group of `groupSize` along K, bf16 scales. INT domain (default, torchao's): i32 zero
 * points, preserveZero, eps = f32 machine epsilon; FLOAT: bf16 zero points from min/max, eps 1e-6.
 * hqq: scale and zero from HQQ's solver (FLOAT domain). A weight whose K the group size does not
 * divide stays as it is. Weights must be [N, K].
 */
export function uintxWeightOnly(opts: UintxWeightOnlyOptions): QuantConfig {
  const op = "uintxWeightOnly";
  const { bits, groupSize = 64, hqq = false } = opts;
  if (!UINTX_BITS.includes(bits)) throw invalid(op, `bits must be 1..7, not ${bits}`);
  if (!UINTX_GROUP_SIZES.includes(groupSize)) throw invalid(op, `groupSize must be one of ${UINTX_GROUP_SIZES.join(", ")}, not ${groupSize}`);
  const domain = opts.zeroPointDomain ?? (hqq ? ZeroPointDomain.FLOAT : ZeroPointDomain.INT);
  if (domain !== ZeroPointDomain.INT && domain !== ZeroPointDomain.FLOAT) throw invalid(op, `zeroPointDomain must be INT or FLOAT, not ${domain}`);
  if (hqq && domain !== ZeroPointDomain.FLOAT) throw invalid(op, "hqq needs zeroPointDomain FLOAT");
  const isInt = domain === ZeroPointDomain.INT;
  const record = { name: "uintx_weight_only", bits, groupSize, zeroPointDomain: isInt ? "INT" : "FLOAT", ...(hqq ? { hqq } : {}) };
  const layout = new UintxLayout();
  return {
    record,
    skipReason: (w) => (w.ndim === 2 && w.shape[1]! % groupSize !== 0 ? `K = ${w.shape[1]} is not a multiple of groupSize ${groupSize}` : null),
    quantizeWeight: (w) => {
      const [n, k] = w.shape as [number, number];
      if (hqq) return uintxWeight(hqqGroups(w.toArray(), n, k, groupSize, { bits }), bits, { dtype: w.dtype, device: w.device }, record);
      return AffineQuantizedTensor.fromFloat(w, {
        mappingType: MappingType.ASYMMETRIC, blockSize: perGroup(w.shape, groupSize), targetDtype: "uint8", quantMin: 0, quantMax: 2 ** bits - 1,
        zeroPointDomain: domain, preserveZero: isInt, scaleDtype: "bf16", zeroPointDtype: isInt ? "i32" : "bf16", eps: isInt ? finfo("f32").eps : 1e-6,
      }, layout, record);
    },
  };
}
