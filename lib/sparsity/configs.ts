/**
 * The 2:4 sparsity configs for sparsify() / quantize() (torchao's semi_sparse_weight and
 * int8_dynamic_activation_int8_semi_sparse_weight). Both store the weight in SemiSparseLayout
 * (lib/dtypes/semi_sparse_layout.ts), whose linear runs cuSPARSELt on CUDA and the half-MAC kernel on
 * the CPU. A weight that is not 2:4 yet is magnitude-pruned on the way (2 largest |w| of each group
 * of 4 along K); prune first with WeightNormSparsifier or WandaSparsifier to choose the zeros.
 */
import { full } from "../creation.ts";
import type { Tensor } from "../tensor.ts";
import { ZeroPointDomain } from "../quantization/primitives.ts";
import type { QuantConfig } from "../quantization/quant_api.ts";
import { AffineQuantizedTensor, type QuantParams } from "../dtypes/affine_quantized_tensor.ts";
import { toSemiSparse } from "../dtypes/semi_sparse_layout.ts";
import { W8A8Layout, w8a8WeightScheme } from "../dtypes/w8a8_layout.ts";
import { applyMask, sparse24Mask } from "../ops/sparse24.ts";

/** Why a weight cannot be 2:4 sparse, or null. */
function skip24(w: Tensor): string | null {
  return w.shape[1]! % 4 === 0 ? null : `K = ${w.shape[1]} is not a multiple of 4 (2:4 groups)`;
}

/** Options of semiSparseWeight(). */
export interface SemiSparseWeightOptions {
  /**
   * On CUDA, keep the pruned weight dense beside its 2:4 form (2 more bytes per weight in memory, none
   * in checkpoints) and run each call on whichever of the two the layout measured faster for its
   * row count (routeSemiSparse in lib/dtypes/semi_sparse_layout.ts); default true. false keeps the 2:4 form only.
   */
  denseFallback?: boolean;
}

/**
 * 2:4 sparse float weights (bf16 / f16; f32 runs the CPU kernel and, on CUDA, the dense fallback):
 * the values stay in the weight's dtype (target "none"), y = x · Wᵀ + bias in x's dtype.
 */
export function semiSparseWeight({ denseFallback = true }: SemiSparseWeightOptions = {}): QuantConfig {
  const record = { name: "semi_sparse_weight", sparsity: "2:4", denseFallback };
  return {
    record,
    skipReason: skip24,
    quantizeWeight: (w) => {
      const [n, k] = w.shape as [number, number];
      const params: QuantParams = {
        shape: [n, k], blockSize: [n, k], targetDtype: "none", zeroPointDomain: ZeroPointDomain.NONE, quantMin: 0, quantMax: 0, dtype: w.dtype,
      };
      const plain = { data: w.clone(), scale: full([1, 1], 1, { dtype: "f32", device: w.device }), zeroPoint: null };
      return toSemiSparse(plain, params, record, denseFallback);
    },
  };
}

/**
 * W8A8 with 2:4 sparse int8 weights: the weight is pruned (magnitude, on the float values), then
 * quantized with W8A8's scheme (symmetric int8 per output channel, f32 scales) and compressed;
 * activations are quantized per row at each call, as int8DynamicActivationInt8Weight does.
 */
export function int8DynamicActivationInt8SemiSparseWeight(): QuantConfig {
  const record = { name: "int8_dynamic_activation_int8_semi_sparse_weight", sparsity: "2:4" };
  return {
    record,
    skipReason: skip24,
    quantizeWeight: (w) => {
      using pruned = w.clone();
      using mask = sparse24Mask(w);
      applyMask(pruned, mask);
      const base = AffineQuantizedTensor.fromFloat(pruned, w8a8WeightScheme(w.shape), new W8A8Layout(), record);
      return toSemiSparse({ data: base.storage.int_data!, scale: base.storage.scale!, zeroPoint: null }, base.params, record);
    },
  };
}
