/**
 * SemiSparseLayout: a 2:4 semi-structured sparse weight [N, K] (torchao's SemiSparseLayout and
 * to_sparse_semi_structured), either float (target "none": the weight's own bf16/f16/f32 values,
 * semiSparseWeight) or int8 per output channel with f32 scales (W8A8's weight scheme,
 * int8DynamicActivationInt8SemiSparseWeight). Storage:
 *   values  [N, K/2] (the weight's dtype, or i8): the 2 kept values of each group of 4 along K
 *   meta    u8 [N, K/4]: their positions, one byte per group (include/tao.h, tao_sparse24_compress)
 *   scale   f32 [N, 1] (int8 only)
 *   packed  u8 [packedBytes] (CUDA, when cuSPARSELt took the shape): cuSPARSELt's compressed form,
 *           made for the cuSPARSELt version and GPU it was packed on (option packedBytes).
 *   dense   [N, K] (float weights made on CUDA with denseFallback, option dense): the pruned weight
 *           itself, for the M where dense cuBLASLt beats the sparse paths. Derived from values + meta:
 *           not written to checkpoints, rebuilt on load (derivedKeys / restore).
 * values + meta are the portable form (checkpoints, the CPU kernel, getPlain); packed feeds the
 * sparse tensor cores. Linear, in dispatch order:
 *   KERNEL   CUDA with dense: routeSemiSparse (below) measures, once per shape and row bucket, the
 *            sparse path below against cuBLASLt on the dense copy and runs the faster
 *   KERNEL   CUDA with packed: bf16 x with more than 16 rows (or K not a multiple of 32) →
 *            linearCusparselt; int8 → quantizeRowsInt8 + linearInt8Cusparselt
 *   KERNEL   float weight, x of the values' dtype → linearSparse24 (CPU: half the MACs; CUDA, 16-bit x
 *            of at most 16 rows (SEMI_SPARSE_FUSED_MAX_ROWS) and K a multiple of 32: a tensor-core kernel
 *            over values + meta, 5 bytes read per 4 weights; else the documented dense fallback for
 *            shapes cuSPARSELt refuses, f16 and f32: dense weight + cuBLASLt)
 *   FALLBACK dequantize (decompress, int8: times the scales) to x's dtype, then dense linear;
 *            int8: x quantized per row and linearInt8Int8 on the decompressed int8 weight
 * bench/linear_sparse.ts measures both CUDA paths beside dense bf16.
 */
import { ErrorCode, invalid, TaoError } from "../errors.ts";
import type { DType } from "../dtypes.ts";
import { full } from "../creation.ts";
import type { Tensor } from "../tensor.ts";
import { linear, type LinearOptions } from "../ops/linear.ts";
import { Context } from "../context.ts";
import { isCapturing } from "../graph.ts";
import { median, sampleMicros } from "../gpu_timing.ts";
import { linearInt8Int8, quantizeRowsInt8 } from "../ops/linear_w8a8.ts";
import { cusparseltPack, linearCusparselt, linearInt8Cusparselt, linearSparse24, sparse24Compress, sparse24Decompress } from "../ops/sparse24.ts";
import { dequantizeAffine, ZeroPointDomain } from "../quantization/primitives.ts";
import {
  AffineQuantizedTensor, dequantizeThenLinear, disposePlain, registerLayout, type ConfigRecord, type Layout, type LayoutStorage, type PlainForm,
  type QuantParams,
} from "./affine_quantized_tensor.ts";
import { QuantizedLinearPriority, registerQuantizedLinear } from "./dispatch.ts";

/** Whether params describe an int8 per-channel weight (else a float "none" one). */
function isInt8(p: QuantParams): boolean {
  return p.targetDtype === "int8";
}

/** A 2:4 sparse weight: compressed values + meta, scales for int8, cuSPARSELt's packed form on CUDA. */
export class SemiSparseLayout implements Layout {
  readonly name = "semi_sparse";

  /** packedBytes: size of the cuSPARSELt form held in `packed` (0: none); keepDense: hold `dense` (float weights). */
  constructor(readonly packedBytes = 0, readonly keepDense = false) {}

  get options(): Readonly<Record<string, number>> {
    return { ...(this.packedBytes > 0 ? { packedBytes: this.packedBytes } : {}), ...(this.keepDense ? { dense: 1 } : {}) };
  }

  get derivedKeys(): readonly string[] {
    return this.keepDense ? ["dense"] : [];
  }

  /** The dense copy of a loaded storage: values + meta decompressed (nothing when they are missing: the constructor says so). */
  restore(storage: LayoutStorage): LayoutStorage {
    if (!this.keepDense || storage.values === undefined || storage.meta === undefined) return {};
    return { dense: sparse24Decompress(storage.values, storage.meta) };
  }

  unsupported(p: QuantParams): string | null {
    if (p.shape.length !== 2) return `it holds 2-D weights, not [${p.shape}]`;
    const [n, k] = p.shape as [number, number];
    if (k % 4 !== 0) return `K = ${k} is not a multiple of 4 (2:4 groups)`;
    if (p.zeroPointDomain !== ZeroPointDomain.NONE) return "it has no zero points (NONE domain)";
    if (p.targetDtype === "none") return p.blockSize.join() === [n, k].join() ? null : `an unquantized weight has blocks [${n}, ${k}]`;
    if (this.keepDense) return "only float (target none) weights keep a dense copy";
    if (isInt8(p)) return p.blockSize.join() === [1, k].join() ? null : `int8 weights need one scale per output channel (blocks [1, ${k}])`;
    return `it holds float (target none) or int8 values, not ${p.targetDtype}`;
  }

  /** Compresses the plain data (a 2:4 weight, or magnitude-pruned on the way); packs it for cuSPARSELt when packedBytes > 0. */
  pack(plain: PlainForm, p: QuantParams): LayoutStorage {
    return compressPlain(plain, p, this.packedBytes > 0 ? "must" : "no", this.keepDense);
  }

  unpack(storage: LayoutStorage, p: QuantParams): PlainForm {
    const data = sparse24Decompress(storage.values!, storage.meta!);
    const scale = isInt8(p) ? storage.scale!.clone() : full([1, 1], 1, { dtype: "f32", device: data.device });
    return { data, scale, zeroPoint: null };
  }

  dequantize(storage: LayoutStorage, p: QuantParams, dtype: DType): Tensor {
    using dense = sparse24Decompress(storage.values!, storage.meta!);
    if (!isInt8(p)) return dense.dtype === dtype ? dense.clone() : dense.cast(dtype);
    return dequantizeAffine(dense, p.blockSize, storage.scale!, null, "int8", {
      quantMin: p.quantMin, quantMax: p.quantMax, zeroPointDomain: ZeroPointDomain.NONE, outputDtype: dtype,
    });
  }

  storageSpec(p: QuantParams) {
    const [n, k] = p.shape as [number, number];
    const int8 = isInt8(p);
    return {
      values: { shape: [n, k / 2], dtypes: [int8 ? "i8" : p.dtype] as DType[] },
      meta: { shape: [n, k / 4], dtypes: ["u8"] as DType[] },
      ...(int8 ? { scale: { shape: [n, 1], dtypes: ["f32"] as DType[] } } : {}),
      ...(this.packedBytes > 0 ? { packed: { shape: [this.packedBytes], dtypes: ["u8"] as DType[] } } : {}),
      ...(this.keepDense ? { dense: { shape: [n, k], dtypes: [p.dtype] as DType[] } } : {}),
    };
  }
}

/**
 * The storage of a plain form (data: a dense [N, K] weight, float or int8; scale: int8's per-channel
 * scales, else ignored): values + meta, int8's scale, and cuSPARSELt's packed form when `pack` is
 * "must" (failures throw) or "try" (a shape, dtype or library cuSPARSELt refuses leaves none), and
 * the pruned dense weight when `dense`. On success the storage owns, or has disposed, the plain
 * tensors; on failure the caller still owns them.
 */
function compressPlain(plain: PlainForm, p: QuantParams, pack: "no" | "must" | "try", dense: boolean): Record<string, Tensor> {
  const { values, meta } = sparse24Compress(plain.data);
  let packed: Tensor | null = null;
  if (pack !== "no") {
    try {
      packed = cusparseltPack(values, meta);
    } catch (e) {
      const refused = e instanceof TaoError && (e.code === ErrorCode.UNSUPPORTED || e.code === ErrorCode.UNAVAILABLE);
      if (pack === "must" || !refused) {
        values.dispose();
        meta.dispose();
        throw e;
      }
    }
  }
  plain.data.dispose();
  plain.zeroPoint?.dispose();
  const storage: Record<string, Tensor> = { values, meta };
  if (packed !== null) storage.packed = packed;
  if (dense) storage.dense = sparse24Decompress(values, meta);
  if (isInt8(p)) storage.scale = plain.scale;
  else plain.scale.dispose();
  return storage;
}

/**
 * A semi-sparse AffineQuantizedTensor of a plain form (see compressPlain), packed for cuSPARSELt on
 * CUDA where it takes the dtype (bf16, int8) and shape, else with the portable form only (the
 * layout's dense fallback then runs); a 16-bit float weight on CUDA keeps its dense copy when
 * `denseFallback`. Takes ownership of the plain tensors.
 */
export function toSemiSparse(plain: PlainForm, params: QuantParams, config: ConfigRecord, denseFallback = false): AffineQuantizedTensor {
  const { device, dtype } = plain.data;
  const onGpu = device !== "cpu" && (dtype === "bf16" || dtype === "i8");
  const dense = denseFallback && device !== "cpu" && params.targetDtype === "none" && (dtype === "bf16" || dtype === "f16");
  let storage: Record<string, Tensor>;
  try {
    storage = compressPlain(plain, params, onGpu ? "try" : "no", dense);
  } catch (e) {
    disposePlain(plain);
    throw e;
  }
  try {
    return new AffineQuantizedTensor(new SemiSparseLayout(storage.packed?.numel ?? 0, dense), storage, params, config);
  } catch (e) {
    for (const t of Object.values(storage)) t.dispose();
    throw e;
  }
}

/** Whether the cuSPARSELt entry runs linear(x, w): a packed semi-sparse weight and x it takes. */
function cusparseltApplies(x: Tensor, w: AffineQuantizedTensor, bias: Tensor | null): boolean {
  if (w.layout.name !== "semi_sparse" || w.storage.packed === undefined || w.device === "cpu" || x.shape.at(-1) !== w.shape[1]) return false;
  if (isInt8(w.params)) return ["f32", "f16", "bf16"].includes(x.dtype) && (bias === null || bias.dtype === x.dtype);
  if (takesFusedSmallM(x, w)) return false;
  return x.dtype === w.storage.values!.dtype && (bias === null || bias.dtype === x.dtype);
}

/**
 * Rows of x up to which a float weight's CUDA linear takes tao_linear_sparse24's tensor-core kernel
 * (over values + meta) rather than cuSPARSELt. H100, bench/linear_sparse.ts (session 11): at 1 and 16
 * rows the kernel beat cuSPARSELt on all four Llama shapes (0.78-1.33x dense vs 0.49-0.88x), at 32
 * cuSPARSELt won on all four (0.67-0.97x vs 0.66-0.90x).
 */
export const SEMI_SPARSE_FUSED_MAX_ROWS = 16;

/** Whether a float weight's CUDA linear goes to linearSparse24's fused small-m kernel rather than cuSPARSELt. */
function takesFusedSmallM(x: Tensor, w: AffineQuantizedTensor): boolean {
  const rows = x.numel / w.shape[1]!;
  return x.dtype !== "f32" && rows <= SEMI_SPARSE_FUSED_MAX_ROWS && w.shape[1]! % 32 === 0;
}

function cusparseltLinear(x: Tensor, w: AffineQuantizedTensor, bias: Tensor | null, opts: LinearOptions): Tensor {
  const [n, k] = w.shape as [number, number];
  if (!isInt8(w.params)) return linearCusparselt(x, w.storage.packed!, n, k, bias, opts);
  const { q, scale } = quantizeRowsInt8(x);
  using xq = q, xs = scale;
  return linearInt8Cusparselt(xq, xs, w.storage.packed!, w.storage.scale!.reshape(n), n, k, bias, { ...opts, dtype: x.dtype });
}

/** The int8 weight's linear without cuSPARSELt: x quantized per row, the decompressed int8 weight, linearInt8Int8. */
function int8Linear(x: Tensor, w: AffineQuantizedTensor, bias: Tensor | null, opts: LinearOptions): Tensor {
  const { q, scale } = quantizeRowsInt8(x);
  using xq = q, xs = scale, wq = sparse24Decompress(w.storage.values!, w.storage.meta!);
  return linearInt8Int8(xq, xs, wq, w.storage.scale!.reshape(w.shape[0]!), bias, { ...opts, dtype: x.dtype });
}

// ------------------------------------------------------------------ routing (dense copy vs sparse)

// Where a 2:4 float weight that keeps its dense copy (semiSparseWeight({ denseFallback: true }), the
// default on CUDA) runs its CUDA linear: the sparse path (cuSPARSELt, or the small-m kernel over values
// + meta) or cuBLASLt on the dense copy, whichever is faster for x's row count. Sparse wins at large M
// (1.3-1.6x at M >= 2048 on an H100) but loses at some small and middle M (0.48-0.95x), which the
// issue forbids beyond 5 %. The choice is measured once per (device, N, K, dtype, bias or not, rows
// rounded up to a power of two) by timing both on the real call (L2 flushed before each sample,
// alternating, median of 5 after 2 warm-up calls each) and kept for the process. Inside a CUDA graph
// capture nothing can be timed: an undecided bucket then takes the sparse path.

/** One of the two ways to compute the linear, honouring opts.out. */
type LinearPath = (opts: LinearOptions) => Tensor;

const choices = new Map<string, "sparse" | "dense">();

/** The decisions made so far: key "device n k dtype bias rows-bucket" -> path (for reports and tests). */
export function semiSparseRoutes(): ReadonlyMap<string, "sparse" | "dense"> {
  return choices;
}

/**
 * y = x · Wᵀ + bias for a [n, k] weight on CUDA by `sparse` or `dense`, as measured for this shape
 * (see the comment above the routing section).
 */
function routeSemiSparse(x: Tensor, n: number, k: number, bias: Tensor | null, opts: LinearOptions, sparse: LinearPath, dense: LinearPath): Tensor {
  const rows = Math.max(1, x.numel / k);
  const key = [x.device, n, k, x.dtype, bias !== null, 2 ** Math.ceil(Math.log2(rows))].join(" ");
  let choice = choices.get(key);
  if (choice === undefined) {
    const ctx = Context.get(x.device);
    if (isCapturing(ctx)) return sparse(opts);
    // Both paths timed alternately (2 warm-up calls and 5 samples each, outputs disposed).
    const [s, d] = sampleMicros(ctx, [sparse, dense].map((p) => () => p({}).dispose()), { warmup: 2, samples: 5 }).map(median);
    choice = d! < s! ? "dense" : "sparse";
    choices.set(key, choice);
  }
  return choice === "dense" ? dense(opts) : sparse(opts);
}

/** A float weight's sparse CUDA linear: cuSPARSELt where it applies, else linearSparse24 (small-m kernel or dense fallback). */
function sparseFloatLinear(x: Tensor, w: AffineQuantizedTensor, bias: Tensor | null, opts: LinearOptions): Tensor {
  if (cusparseltApplies(x, w, bias)) return cusparseltLinear(x, w, bias, opts);
  return linearSparse24(x, w.storage.values!, w.storage.meta!, bias, opts);
}

registerLayout("semi_sparse", (options) => new SemiSparseLayout(Number(options.packedBytes ?? 0), Number(options.dense ?? 0) === 1));
registerQuantizedLinear({
  name: "semi_sparse: CUDA with a dense copy, the measured faster of the sparse path and cuBLASLt on the copy",
  priority: QuantizedLinearPriority.KERNEL,
  condition: (x, w, bias) => w.layout.name === "semi_sparse" && w.storage.dense !== undefined && x.device !== "cpu" &&
    x.dtype === w.storage.dense.dtype && x.shape.at(-1) === w.shape[1] && (bias === null || bias.dtype === x.dtype),
  impl: (x, w, bias, opts) => routeSemiSparse(x, w.shape[0]!, w.shape[1]!, bias, opts, (o) => sparseFloatLinear(x, w, bias, o),
    (o) => linear(x, w.storage.dense!, bias, o)),
});
registerQuantizedLinear({
  name: "semi_sparse: cuSPARSELt (bf16; int8 after quantizeRowsInt8)",
  priority: QuantizedLinearPriority.KERNEL,
  condition: cusparseltApplies,
  impl: cusparseltLinear,
});
registerQuantizedLinear({
  name: "semi_sparse: linearSparse24 (CPU half-MAC kernel; CUDA small-m tensor-core kernel or dense weight + cuBLASLt)",
  priority: QuantizedLinearPriority.KERNEL,
  condition: (x, w, bias) => w.layout.name === "semi_sparse" && !isInt8(w.params) && x.dtype === w.storage.values!.dtype &&
    x.shape.at(-1) === w.shape[1] && (bias === null || bias.dtype === x.dtype),
  impl: (x, w, bias, opts) => linearSparse24(x, w.storage.values!, w.storage.meta!, bias, opts),
});
registerQuantizedLinear({
  name: "semi_sparse: int8 quantizeRowsInt8 + decompressed linearInt8Int8",
  priority: QuantizedLinearPriority.KERNEL,
  condition: (x, w, bias) => w.layout.name === "semi_sparse" && isInt8(w.params) && ["f32", "f16", "bf16"].includes(x.dtype) &&
    x.shape.at(-1) === w.shape[1] && (bias === null || bias.dtype === x.dtype),
  impl: int8Linear,
});
registerQuantizedLinear({
  name: "semi_sparse: decompress + dense linear",
  priority: QuantizedLinearPriority.FALLBACK,
  condition: (_x, w) => w.layout.name === "semi_sparse",
  impl: dequantizeThenLinear,
});
