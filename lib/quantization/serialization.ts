/**
 * Checkpoints of models, quantized or not, as safetensors. A dense parameter is one tensor under
 * its qualified name; a quantized one is its layout's storage tensors "<name>:<key>"
 * ("0.weight:packed_weight"; not those the layout derives from the others, its derivedKeys) plus a record in the "__metadata__" entry "tao.quantization", JSON
 * { "<name>": { config, layout: { name, ...options }, shape, blockSize, targetDtype,
 * zeroPointDomain, quantMin, quantMax, dtype } } (AffineQuantizedTensor.toJSON). Loading rebuilds
 * each recorded weight in its layout, ready to run, in the model's original definition.
 */
import { invalid } from "../errors.ts";
import { isFloat } from "../dtypes.ts";
import { Tensor } from "../tensor.ts";
import type { Module, Parameter } from "../nn/index.ts";
import { readSafetensors, writeSafetensors } from "../serialization/safetensors.ts";
import { AffineQuantizedTensor } from "../dtypes/affine_quantized_tensor.ts";
// The layouts a checkpoint may name register themselves when loaded:
import "../dtypes/plain_layout.ts";
import "../dtypes/tensor_core_tiled.ts";
import "../dtypes/w8a8_layout.ts";
import "../dtypes/smoothquant_layout.ts";
import "../dtypes/float8_layout.ts";
import "../dtypes/semi_sparse_layout.ts";

/** The metadata key holding the quantized tensors' records. */
export const QUANTIZATION_METADATA_KEY = "tao.quantization";

/** Writes every parameter of `model` (any device) to a safetensors file at `path`, quantized ones with their records. */
export function save(model: Module, path: string): void {
  const tensors = new Map<string, Tensor>();
  const records: Record<string, unknown> = {};
  for (const [name, p] of model.namedParameters()) {
    if (p instanceof Tensor) {
      tensors.set(name, p);
    } else {
      for (const [key, t] of Object.entries(p.storage)) if (!p.layout.derivedKeys?.includes(key)) tensors.set(`${name}:${key}`, t);
      records[name] = p.toJSON();
    }
  }
  const metadata = Object.keys(records).length > 0 ? { [QUANTIZATION_METADATA_KEY]: JSON.stringify(records) } : undefined;
  writeSafetensors(path, tensors, metadata);
}

/**
 * Reads a checkpoint into host parameters by qualified name: AffineQuantizedTensors for the
 * recorded weights (every record and storage tensor checked), Tensors for the rest. Plain
 * safetensors files (bf16, f16, f32, ...) read as Tensors. A malformed or truncated file is a TaoError.
 */
export function load(path: string): Record<string, Parameter> {
  const op = "load";
  const { metadata, tensors } = readSafetensors(path);
  let records: unknown = {};
  const text = metadata[QUANTIZATION_METADATA_KEY];
  if (text !== undefined) {
    try {
      records = JSON.parse(text);
    } catch {
      throw invalid(op, `${path}: "${QUANTIZATION_METADATA_KEY}" metadata is not JSON`);
    }
  }
  if (typeof records !== "object" || records === null || Array.isArray(records)) {
    throw invalid(op, `${path}: "${QUANTIZATION_METADATA_KEY}" metadata is not a JSON object`);
  }
  const out: Record<string, Parameter> = {};
  for (const [name, record] of Object.entries(records)) {
    const prefix = `${name}:`;
    const storage = Object.fromEntries([...tensors].filter(([key]) => key.startsWith(prefix)).map(([key, t]) => [key.slice(prefix.length), t]));
    for (const key of Object.keys(storage)) tensors.delete(prefix + key);
    out[name] = AffineQuantizedTensor.fromJSON(record, storage);
  }
  for (const [name, t] of tensors) out[name] = t;
  return out;
}

/**
 * Loads a checkpoint (save's, or a plain safetensors file) into `model`, built from its original
 * definition: recorded weights replace the model's parameters as AffineQuantizedTensors on the
 * parameter's device (the replaced ones are disposed); dense tensors are copied into the existing
 * parameters, float ones cast to the parameter's dtype first. Shapes, and the dtypes of quantized
 * weights, must match the model. strict (default): a parameter missing from the file or a tensor
 * that names no parameter is a TaoError. Everything is checked before the model changes.
 */
export function loadInto(
  model: Module,
  path: string,
  opts: { strict?: boolean } = {},
): { quantized: string[]; missingKeys: string[]; unexpectedKeys: string[] } {
  const op = "loadInto";
  const dict = load(path);
  const own = model.stateDict();
  const missingKeys = Object.keys(own).filter((k) => !Object.hasOwn(dict, k));
  const unexpectedKeys = Object.keys(dict).filter((k) => !Object.hasOwn(own, k));
  if ((opts.strict ?? true) && missingKeys.length + unexpectedKeys.length > 0) {
    throw invalid(op, `${path}: missing keys [${missingKeys.join(", ")}], unexpected keys [${unexpectedKeys.join(", ")}]`);
  }
  const modules = new Map(model.namedModules());
  const dense: Record<string, Tensor> = {};
  const swaps: { module: Module; leaf: string; name: string; value: AffineQuantizedTensor }[] = [];
  try {
    for (const [name, value] of Object.entries(dict)) {
      const param = own[name];
      if (param === undefined) continue;
      if (value.shape.join() !== param.shape.join()) throw invalid(op, `${name}: the model has [${param.shape}], the file [${value.shape}]`);
      if (value instanceof Tensor) {
        const cast = value.dtype !== param.dtype && isFloat(value.dtype) && isFloat(param.dtype);
        dense[name] = cast ? value.cast(param.dtype) : value;
        continue;
      }
      if (value.dtype !== param.dtype) throw invalid(op, `${name}: the model is ${param.dtype}, the quantized weight ${value.dtype}`);
      const dot = name.lastIndexOf(".");
      swaps.push({ module: modules.get(name.slice(0, Math.max(dot, 0)))!, leaf: name.slice(dot + 1), name, value: value.to(param.device) });
    }
    model.loadStateDict(dense, { strict: false });
  } catch (e) {
    for (const s of swaps) s.value.dispose();
    throw e;
  } finally {
    for (const [name, t] of Object.entries(dense)) if (t !== dict[name]) t.dispose();
  }
  for (const { module, leaf, value } of swaps) module.setParameter(leaf, value)?.dispose();
  return { quantized: swaps.map((s) => s.name), missingKeys, unexpectedKeys };
}
