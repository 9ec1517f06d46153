/**
 * AffineQuantizedTensor: a weight quantized with the affine primitives, stored in a Layout
 * (torchao's AffineQuantizedTensor). It holds the layout's storage tensors and the parameters that
 * give them meaning (shape, block size, target dtype, zero-point domain, range, original dtype).
 * A layout is one file (plain_layout.ts, tensor_core_tiled.ts) that implements Layout, registers
 * its constructor here (registerLayout, for checkpoints) and its linear in dispatch.ts.
 */
import { invalid } from "../errors.ts";
import type { DType } from "../dtypes.ts";
import { commonDevice, Tensor } from "../tensor.ts";
import { linear, type LinearOptions } from "../ops/linear.ts";
import {
  chooseQParamsAffine, quantizeAffine, targetInfo, ZeroPointDomain, type ChooseQParamsOptions, type MappingType,
  type TargetDtype,
} from "../quantization/primitives.ts";

/** The plain form of a quantized weight (what the primitives produce and consume). */
export interface PlainForm {
  /** Quantized values in the target's storage dtype (i8 for int8, u8 for uint4), the weight's shape. */
  data: Tensor;
  /** One per block: shape[d] / blockSize[d] along each dim. */
  scale: Tensor;
  /** Shaped as scale; null in the NONE zero-point domain. */
  zeroPoint: Tensor | null;
}

/**
 * The value type of a stored weight: a quantization target, or "none" for layouts that keep the
 * weight's own float values (sparsity only: the semi-sparse layout of semiSparseWeight).
 */
export type StoredTarget = TargetDtype | "none";

/** The quantization target of params (TaoError naming `op` for an unquantized "none" weight). */
export function quantTarget(p: QuantParams, op: string): TargetDtype {
  if (p.targetDtype === "none") throw invalid(op, "the weight is not quantized (target none)");
  return p.targetDtype;
}

/** What dequantization needs besides the tensors (torchao's AQT fields). */
export interface QuantParams {
  /** Logical shape of the weight ([N, K] for a Linear). */
  readonly shape: readonly number[];
  readonly blockSize: readonly number[];
  readonly targetDtype: StoredTarget;
  readonly zeroPointDomain: ZeroPointDomain;
  readonly quantMin: number;
  readonly quantMax: number;
  /** The original weight's float dtype: what dequantize() returns by default. */
  readonly dtype: DType;
}

/** A layout's storage tensors by name ("int_data", "packed_weight", ...), all on one device. */
export type LayoutStorage = Readonly<Record<string, Tensor>>;

/** How a layout stores a quantized weight: packing, unpacking, dequantization and its tensors' spec. */
export interface Layout {
  /** Recorded in checkpoints and matched by dispatch conditions. */
  readonly name: string;
  /** Recorded in checkpoints beside the name ({ innerKTiles: 8 }); {} for none. */
  readonly options: Readonly<Record<string, number>>;
  /** Why this layout cannot hold a weight with `params`, or null. */
  unsupported(params: QuantParams): string | null;
  /**
   * The storage for a plain form. On success the storage owns, or has disposed, the plain tensors;
   * on failure the caller still owns them.
   */
  pack(plain: PlainForm, params: QuantParams): LayoutStorage;
  /** The plain form, as new tensors the caller owns. */
  unpack(storage: LayoutStorage, params: QuantParams): PlainForm;
  /** The weight as a new `dtype` tensor. */
  dequantize(storage: LayoutStorage, params: QuantParams, dtype: DType): Tensor;
  /** The storage tensors this layout holds for `params`: name -> shape and allowed dtypes. */
  storageSpec(params: QuantParams): Record<string, { shape: readonly number[]; dtypes: readonly DType[] }>;
  /** Storage keys computed from the others: not written to checkpoints, rebuilt by restore() on load. */
  readonly derivedKeys?: readonly string[];
  /** The derivedKeys tensors (new, on the storage's device) of a loaded storage that lacks them. */
  restore?(storage: LayoutStorage, params: QuantParams): LayoutStorage;
}

/** Arguments of fromFloat: the primitives' arguments (torchao's to_affine_quantized_intx). */
export interface QuantScheme extends ChooseQParamsOptions {
  mappingType: MappingType;
  blockSize: readonly number[];
  targetDtype: TargetDtype;
  zeroPointDomain: ZeroPointDomain;
}

/** A JSON description of the config that made a tensor (recorded in checkpoints). */
export type ConfigRecord = Readonly<Record<string, unknown>>;

/** What a checkpoint records for one quantized tensor (see toJSON). */
export interface AqtRecord {
  config: ConfigRecord | null;
  layout: { name: string; [option: string]: string | number };
  shape: number[];
  blockSize: number[];
  targetDtype: StoredTarget;
  zeroPointDomain: keyof typeof ZeroPointDomain;
  quantMin: number;
  quantMax: number;
  dtype: DType;
}

const WEIGHT_DTYPES: readonly DType[] = ["f32", "f16", "bf16"];
const DOMAIN_NAMES = Object.keys(ZeroPointDomain) as (keyof typeof ZeroPointDomain)[];
const layouts = new Map<string, (options: Readonly<Record<string, unknown>>) => Layout>();

/** Makes a layout constructible by name from a checkpoint record; each layout file calls it once. */
export function registerLayout(name: string, fromOptions: (options: Readonly<Record<string, unknown>>) => Layout): void {
  if (layouts.has(name)) throw invalid("registerLayout", `layout ${JSON.stringify(name)} is already registered`);
  layouts.set(name, fromOptions);
}

/** The QuantParams of quantizing `weight` with `scheme` (range defaults from the target). */
export function quantParams(weight: Tensor, scheme: QuantScheme): QuantParams {
  const info = targetInfo(scheme.targetDtype);
  return {
    shape: [...weight.shape], blockSize: [...scheme.blockSize], targetDtype: scheme.targetDtype,
    zeroPointDomain: scheme.zeroPointDomain, quantMin: scheme.quantMin ?? info.quantMin,
    quantMax: scheme.quantMax ?? info.quantMax, dtype: weight.dtype,
  };
}

/** Throws a TaoError naming `op` unless `params` are consistent and `layout` can hold them. */
function checkParams(params: QuantParams, layout: Layout, op: string): void {
  const { shape, blockSize, quantMin, quantMax } = params;
  if (params.targetDtype !== "none") targetInfo(params.targetDtype);
  if (shape.length === 0 || !shape.every((d) => Number.isSafeInteger(d) && d >= 1)) throw invalid(op, `bad shape [${shape}]`);
  if (blockSize.length !== shape.length || !blockSize.every((b, i) => Number.isSafeInteger(b) && b >= 1 && shape[i]! % b === 0)) {
    throw invalid(op, `blockSize [${blockSize}] does not divide shape [${shape}]`);
  }
  if (!Object.values(ZeroPointDomain).includes(params.zeroPointDomain)) throw invalid(op, `bad zero-point domain ${params.zeroPointDomain}`);
  if (!Number.isSafeInteger(quantMin) || !Number.isSafeInteger(quantMax) || quantMin > quantMax) {
    throw invalid(op, `bad quant range [${quantMin}, ${quantMax}]`);
  }
  if (!WEIGHT_DTYPES.includes(params.dtype)) throw invalid(op, `dtype must be one of ${WEIGHT_DTYPES.join(", ")}, not ${params.dtype}`);
  const why = layout.unsupported(params);
  if (why !== null) throw invalid(op, `the ${layout.name} layout cannot hold this weight: ${why}`);
}

/** Disposes the tensors of a plain form. */
export function disposePlain(plain: PlainForm): void {
  for (const t of [plain.data, plain.scale, plain.zeroPoint]) t?.dispose();
}

/** A quantized weight: a layout's storage plus the parameters that give it meaning. */
export class AffineQuantizedTensor {
  /**
   * Wraps storage (owned from now on) after checking params and that the storage is exactly what
   * `layout.storageSpec(params)` lists, on one device. Most code wants fromFloat or fromPlain.
   */
  constructor(
    readonly layout: Layout,
    readonly storage: LayoutStorage,
    readonly params: QuantParams,
    readonly config: ConfigRecord | null = null,
  ) {
    const op = "AffineQuantizedTensor";
    checkParams(params, layout, op);
    const spec = layout.storageSpec(params);
    const names = Object.keys(storage).sort(), want = Object.keys(spec).sort();
    if (names.join() !== want.join()) throw invalid(op, `the ${layout.name} layout stores [${want}], not [${names}]`);
    for (const [name, { shape, dtypes }] of Object.entries(spec)) {
      const t = storage[name];
      if (!(t instanceof Tensor) || t.disposed) throw invalid(op, `${name} is not a live Tensor`);
      if (!dtypes.includes(t.dtype) || t.shape.join() !== shape.join()) {
        throw invalid(op, `${name} must be ${dtypes.join("|")} [${shape}], not ${t.dtype} [${t.shape}]`);
      }
    }
    commonDevice(op, Object.values(storage));
  }

  /** Packs a plain form into `layout`. Takes ownership of the plain tensors (kept or disposed, also on failure). */
  static fromPlain(plain: PlainForm, params: QuantParams, layout: Layout, config: ConfigRecord | null = null): AffineQuantizedTensor {
    let storage: LayoutStorage;
    try {
      checkParams(params, layout, "AffineQuantizedTensor.fromPlain");
      storage = layout.pack(plain, params);
    } catch (e) {
      disposePlain(plain);
      throw e;
    }
    try {
      return new AffineQuantizedTensor(layout, storage, params, config);
    } catch (e) {
      for (const t of Object.values(storage)) t.dispose();
      throw e;
    }
  }

  /**
   * Quantizes a float weight: chooseQParamsAffine, quantizeAffine, then packs into `layout`
   * (torchao's to_affine_quantized_intx). `weight` is left as it is.
   */
  static fromFloat(weight: Tensor, scheme: QuantScheme, layout: Layout, config: ConfigRecord | null = null): AffineQuantizedTensor {
    const params = quantParams(weight, scheme);
    checkParams(params, layout, "AffineQuantizedTensor.fromFloat");
    const { scale, zeroPoint } = chooseQParamsAffine(weight, scheme.mappingType, scheme.blockSize, scheme.targetDtype, scheme);
    let data: Tensor;
    try {
      data = quantizeAffine(weight, scheme.blockSize, scale, zeroPoint, scheme.targetDtype, scheme);
    } catch (e) {
      scale.dispose();
      zeroPoint?.dispose();
      throw e;
    }
    return AffineQuantizedTensor.fromPlain({ data, scale, zeroPoint }, params, layout, config);
  }

  /**
   * Rebuilds a tensor from a checkpoint record (toJSON's output) and its storage tensors (the layout's
   * derivedKeys rebuilt by its restore()); every field is checked.
   */
  static fromJSON(record: unknown, storage: LayoutStorage): AffineQuantizedTensor {
    const op = "AffineQuantizedTensor.fromJSON";
    const r = record as Partial<AqtRecord> | null;
    if (typeof r !== "object" || r === null) throw invalid(op, "record is not a JSON object");
    const ints = (v: unknown, what: string) => {
      if (!Array.isArray(v) || !v.every(Number.isSafeInteger)) throw invalid(op, `${what} must be an array of integers`);
      return v as number[];
    };
    const { name, ...options } = r.layout ?? { name: undefined };
    const fromOptions = layouts.get(String(name));
    if (fromOptions === undefined) throw invalid(op, `unknown layout ${JSON.stringify(name)} (known: ${[...layouts.keys()].join(", ")})`);
    if (!DOMAIN_NAMES.includes(r.zeroPointDomain!)) throw invalid(op, `unknown zero-point domain ${JSON.stringify(r.zeroPointDomain)}`);
    if (r.config != null && (typeof r.config !== "object" || Array.isArray(r.config))) throw invalid(op, "config must be a JSON object");
    const params: QuantParams = {
      shape: ints(r.shape, "shape"), blockSize: ints(r.blockSize, "blockSize"), targetDtype: r.targetDtype!,
      zeroPointDomain: ZeroPointDomain[r.zeroPointDomain!], quantMin: r.quantMin!, quantMax: r.quantMax!, dtype: r.dtype!,
    };
    const zp = storage.zero_point;
    // The int8 kernel entry trusts this record for "every zero point is 0" (plain_layout.ts): checked once here.
    if (r.config?.name === "int8_weight_only" && zp && zp.toArray().some((v) => v !== 0)) {
      throw invalid(op, `the record says int8_weight_only (zero point 0) but the stored zero points are not all 0`);
    }
    const layout = fromOptions(options);
    const derived = layout.restore?.(storage, params) ?? {};
    try {
      return new AffineQuantizedTensor(layout, { ...storage, ...derived }, params, r.config ?? null);
    } catch (e) {
      for (const t of Object.values(derived)) t.dispose();
      throw e;
    }
  }

  /** The original weight's shape. */
  get shape(): readonly number[] {
    return this.params.shape;
  }

  /** The original weight's dtype (what dequantize() returns by default). */
  get dtype(): DType {
    return this.params.dtype;
  }

  get device(): string {
    return Object.values(this.storage)[0]!.device;
  }

  get disposed(): boolean {
    return Object.values(this.storage).some((t) => t.disposed);
  }

  #live(op: string): void {
    if (this.disposed) throw invalid(op, "tensor was disposed");
  }

  /** The plain form (data, scale, zero point), as new tensors the caller owns. */
  getPlain(): PlainForm {
    this.#live("AffineQuantizedTensor.getPlain");
    return this.layout.unpack(this.storage, this.params);
  }

  /** The weight as floats: a new `dtype` tensor (default: the original dtype). */
  dequantize(dtype: DType = this.dtype): Tensor {
    const op = "AffineQuantizedTensor.dequantize";
    this.#live(op);
    if (!WEIGHT_DTYPES.includes(dtype)) throw invalid(op, `dtype must be one of ${WEIGHT_DTYPES.join(", ")}, not ${dtype}`);
    return this.layout.dequantize(this.storage, this.params, dtype);
  }

  /** This tensor on `device`: itself when already there, else a copy of the storage. */
  to(device: string): AffineQuantizedTensor {
    this.#live("AffineQuantizedTensor.to");
    const moved: Record<string, Tensor> = {};
    try {
      for (const [name, t] of Object.entries(this.storage)) moved[name] = t.to(device);
    } catch (e) {
      for (const [name, t] of Object.entries(moved)) if (t !== this.storage[name]) t.dispose();
      throw e;
    }
    if (Object.entries(moved).every(([name, t]) => t === this.storage[name])) return this;
    return new AffineQuantizedTensor(this.layout, moved, this.params, this.config);
  }

  /** Disposes the storage (idempotent). */
  dispose(): void {
    for (const t of Object.values(this.storage)) t.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** The checkpoint record: config, layout name and options, and the params (domain by name). */
  toJSON(): AqtRecord {
    const p = this.params;
    return {
      config: this.config, layout: { name: this.layout.name, ...this.layout.options }, shape: [...p.shape],
      blockSize: [...p.blockSize], targetDtype: p.targetDtype, zeroPointDomain: DOMAIN_NAMES.find((k) => ZeroPointDomain[k] === p.zeroPointDomain)!,
      quantMin: p.quantMin, quantMax: p.quantMax, dtype: p.dtype,
    };
  }
}

/**
 * The fallback linear of every layout, torchao's fallback path: dequantize the weight to x's
 * dtype with the layout's own dequantization, then dense linear.
 */
export function dequantizeThenLinear(x: Tensor, w: AffineQuantizedTensor, bias: Tensor | null, opts: LinearOptions): Tensor {
  using dense = w.dequantize(x.dtype);
  return linear(x, dense, bias, opts);
}
