/** linearInt4TensorCoreTiled: y = x · Wᵀ (+ bias) with W an int4 weight in tinygemm's layout. */
import { native } from "../native/index.ts";
import { check, invalid } from "../errors.ts";
import { commonDevice, produce, type Tensor } from "../tensor.ts";

/**
 * x [..., K] bf16 times the int4 weight W [N, K] given packed (i32 [N/8, K/(T·16), 32, T/2],
 * torch.ops.aten._convert_weight_to_int4pack's layout) and scalesAndZeros (bf16 [K/groupSize, N, 2]),
 * plus bias [N] (bf16) if given; y is bf16 [..., N]. W is never materialized: per quantization group
 * the kernel uses Σ x·W = s·Σ x·q + (z − 8s)·Σ x, accumulating in f32 and rounding once. Built for
 * small M (decode); see tao_linear_int4_tensor_core_tiled in include/tao.h.
 */
export function linearInt4TensorCoreTiled(
  x: Tensor,
  packed: Tensor,
  scalesAndZeros: Tensor,
  groupSize: number,
  bias: Tensor | null = null,
  opts: { out?: Tensor } = {},
): Tensor {
  const op = "linearInt4TensorCoreTiled";
  commonDevice(op, [x, packed, scalesAndZeros, bias, opts.out]);
  const [nt, ko, lanes, half] = packed.shape;
  if (packed.dtype !== "i32" || packed.ndim !== 4 || lanes !== 32) throw invalid(op, `packed must be i32 [N/8, K/(T*16), 32, T/2], not [${packed.shape}]`);
  const tiles = half! * 2, n = nt! * 8, k = ko! * tiles * 16;
  if (x.dtype !== "bf16" || x.shape.at(-1) !== k) throw invalid(op, `x must be bf16 [..., ${k}], not ${x.dtype} [${x.shape}]`);
  if (scalesAndZeros.dtype !== "bf16" || scalesAndZeros.shape.join() !== [k / groupSize, n, 2].join()) {
    throw invalid(op, `scalesAndZeros must be bf16 [${k / groupSize}, ${n}, 2], not ${scalesAndZeros.dtype} [${scalesAndZeros.shape}]`);
  }
  if (bias && (bias.dtype !== "bf16" || bias.numel !== n)) throw invalid(op, `bias must be bf16 [${n}]`);
  const m = x.numel / k;
  const shape = [...x.shape.slice(0, -1), n];
  const run = (y: Tensor) =>
    check(native.tao_linear_int4_tensor_core_tiled(x.context.handle(op), x.ptr(op), packed.ptr(op), scalesAndZeros.ptr(op),
      bias?.ptr(op) ?? null, y.ptr(op), m, n, k, tiles, groupSize), op);
  if (opts.out) {
    if (opts.out.dtype !== "bf16" || opts.out.numel !== m * n) throw invalid(op, `out must be bf16 [${shape}]`);
    run(opts.out);
    return opts.out;
  }
  return produce("bf16", shape, x.device, op, run);
}
