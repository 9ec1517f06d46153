/** linearInt4TensorCoreTiled: y = x · Wᵀ (+ bias) with W an int4 weight in tinygemm's layout. */
import { native } from "../native/index.ts";
import { check, invalid } from "../errors.ts";
import { dtypeCode, type DType } from "../dtypes.ts";
import type { Tensor } from "../tensor.ts";
import { int4TiledGeometry, TINYGEMM_GROUP_SIZES } from "../dtypes/tensor_core_tiled.ts";
import type { LinearOptions } from "./linear.ts";
import { checkLinearArgs, linearOutput } from "./linear_args.ts";

const DTYPES: readonly DType[] = ["bf16", "f16"];

/**
 * x [..., K] (bf16 or f16) times the int4 weight W [N, K] given as packed (i32 [N/8, K/(T·16), 32,
 * T/2], torch.ops.aten._convert_weight_to_int4pack's layout) and scalesAndZeros (bf16 [K/groupSize,
 * N, 2]), plus bias [N] if given; bias, y [..., N] and opts.out are in x's dtype. groupSize is 32,
 * 64, 128 or 256 and divides K. W is never materialized: each weight is dequantized in registers to
 * x's dtype ((q − 8)·scale + zero, rounded once; for bf16 exactly dequantizeInt4TensorCoreTiled's
 * value), products accumulate in f32 and y is rounded once. So y equals linear(x, W, bias) up to the
 * order of the f32 sums, not bit for bit. See tao_linear_int4_tensor_core_tiled in include/tao.h.
 */
export function linearInt4TensorCoreTiled(
  x: Tensor,
  packed: Tensor,
  scalesAndZeros: Tensor,
  groupSize: number,
  bias: Tensor | null = null,
  opts: LinearOptions = {},
): Tensor {
  const op = "linearInt4TensorCoreTiled";
  const [n, k, tiles] = int4TiledGeometry(op, packed);
  const shape = checkLinearArgs(op, { x, weights: { packed, scalesAndZeros }, bias, out: opts.out }, n, k, DTYPES);
  if (!TINYGEMM_GROUP_SIZES.includes(groupSize)) throw invalid(op, `groupSize=${groupSize} must be ${TINYGEMM_GROUP_SIZES.join(", ")}`);
  if (k % groupSize !== 0) throw invalid(op, `groupSize ${groupSize} does not divide K = ${k}`);
  const want = [k / groupSize, n, 2];
  if (scalesAndZeros.dtype !== "bf16" || scalesAndZeros.shape.join() !== want.join()) {
    throw invalid(op, `scalesAndZeros must be bf16 [${want}], not ${scalesAndZeros.dtype} [${scalesAndZeros.shape}]`);
  }
  return linearOutput(op, x, shape, opts.out, (y) => {
    check(native.tao_linear_int4_tensor_core_tiled(x.context.handle(op), x.ptr(op), packed.ptr(op), scalesAndZeros.ptr(op),
      bias?.ptr(op) ?? null, y.ptr(op), dtypeCode(x.dtype), x.numel / k, n, k, tiles, groupSize), op);
  });
}
