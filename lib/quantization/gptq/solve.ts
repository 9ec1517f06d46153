/**
 * GPTQ of one weight on its own device: tao_gptq_factor then tao_gptq_quantize (lib/ops/gptq.ts),
 * the codes brought to the host as Int4Groups for int4Weight (4 bits) or uintxWeight. The same
 * algorithm and options as the float64 host reference gptqWeight, in f32 (the factorization in f64).
 */
import type { Tensor } from "../../tensor.ts";
import { gptqFactor, gptqQuantize } from "../../ops/gptq.ts";
import type { Int4Groups } from "../int4_groups.ts";
import { checkGptqOptions, type GptqWeightOptions } from "./gptq_weight.ts";

/**
 * GPTQ-quantized groups of `opts.bits`-bit values (default 4) of `weight` ([n, k], f32/f16/bf16)
 * given its layer's Hessian `h` (f32 [k, k], 2·XᵀX / rows, on the same device; neither is modified). TaoError for bad options, or when
 * the damped Hessian is not positive definite.
 */
export function gptqSolve(weight: Tensor, h: Tensor, opts: GptqWeightOptions): Int4Groups {
  checkGptqOptions(opts, "gptq");
  const { groupSize, bits = 4, percdamp = 0.01, actOrder = false, blockSize = 128 } = opts;
  const factor = gptqFactor(h, { percdamp, actOrder });
  try {
    const codes = gptqQuantize(weight, h, factor, { groupSize, blockSize, bits, staticGroups: actOrder || (opts.staticGroups ?? false) });
    try {
      const [n, k] = weight.shape as [number, number];
      return {
        n, k, groupSize,
        q: codes.q.toArray() as Uint8Array,
        scale: codes.scale.toArray() as Float32Array,
        zero: codes.zero.toArray() as Float32Array,
      };
    } finally {
      for (const t of Object.values(codes)) t.dispose();
    }
  } finally {
    factor.u.dispose();
    factor.perm?.dispose();
  }
}
