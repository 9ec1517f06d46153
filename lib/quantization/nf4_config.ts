/**
 * nf4WeightOnly: QLoRA's NF4 weight-only quantization (bitsandbytes' nf4 with double quantization,
 * torchao's NF4Tensor): weights as 4-bit codes into 16 normal-float levels per block of 64 along K,
 * block absmax double-quantized to 8 bits in groups of 256 blocks; activations stay in their dtype.
 * Stored in the nf4 layout (lib/dtypes/nf4_layout.ts), whose dispatch entry runs linearNf4.
 */
import type { Tensor } from "../tensor.ts";
import { AffineQuantizedTensor, quantParams } from "../dtypes/affine_quantized_tensor.ts";
import { Nf4Layout } from "../dtypes/nf4_layout.ts";
import { NF4_BLOCK, nf4Quantize } from "../ops/nf4.ts";
import type { QuantConfig } from "./quant_api.ts";
import { MappingType, ZeroPointDomain } from "./primitives.ts";

/**
 * NF4 weight-only (block 64, double-quantized scales). A weight whose K is not a multiple of 64
 * stays as it is (skipReason says so). Weights must be [N, K].
 */
export function nf4WeightOnly(): QuantConfig {
  const record = { name: "nf4_weight_only", blockSize: NF4_BLOCK };
  const layout = new Nf4Layout();
  return {
    record,
    skipReason: (w: Tensor) => (w.ndim === 2 && w.shape[1]! % NF4_BLOCK !== 0 ? `K = ${w.shape[1]} is not a multiple of ${NF4_BLOCK}` : null),
    quantizeWeight: (w: Tensor) => {
      const params = quantParams(w, {
        mappingType: MappingType.SYMMETRIC, blockSize: [1, NF4_BLOCK], targetDtype: "uint4", zeroPointDomain: ZeroPointDomain.NONE,
      });
      const { codes, absmax } = nf4Quantize(w);
      return AffineQuantizedTensor.fromPlain({ data: codes, scale: absmax, zeroPoint: null }, params, layout, record);
    },
  };
}
