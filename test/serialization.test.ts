// Checkpoints: save(model) → loadInto(a fresh, unquantized model of the same definition) gives the
// quantized model back, bit for bit, on every device present; the metadata records each quantized
// weight's config, layout and parameters; plain bf16/f16/f32 safetensors load into float models;
// truncated files, lying records and mismatched models are TaoErrors that leave the model as it was.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AffineQuantizedTensor, fromArray, int4WeightOnly, int8WeightOnly, load, loadInto, quantize, QUANTIZATION_METADATA_KEY, randn,
  readSafetensors, save, TaoError, writeSafetensors, ZeroPointDomain, type Module, type QuantConfig, type Tensor,
} from "../lib/index.ts";
import { bits, devices, freshSeed, hasCuda, mismatches, noCudaReason } from "./helpers.ts";
import { mlp } from "./quant_model.ts";

if (!hasCuda) console.log(`serialization.test.ts: cuda:0 cases skipped: ${noCudaReason}`);

const dir = mkdtempSync(join(tmpdir(), "tao-checkpoints-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const newPath = () => join(dir, `${files++}.safetensors`);

/** Raw bits of every parameter (the plain form of quantized ones), by name. */
function snapshot(model: Module): Record<string, number[][]> {
  return Object.fromEntries(model.namedParameters().map(([name, p]) => {
    if (!(p instanceof AffineQuantizedTensor)) return [name, [bits(p)]];
    const { data, scale, zeroPoint } = p.getPlain();
    return [name, [data, scale, zeroPoint!].map((t) => bits(t))];
  }));
}
/** The model's output on a fixed input, as raw bits. */
function output(model: Module & { forward(x: Tensor): Tensor }, k: number, device: string): number[] {
  using x = randn([7, k], { dtype: "bf16", device, seed: 42 });
  using y = model.forward(x);
  return bits(y);
}

const CONFIGS: [string, () => QuantConfig, string][] = [
  ["int8WeightOnly", int8WeightOnly, "plain"],
  ["int4WeightOnly g128 tensor_core_tiled", () => int4WeightOnly(), "tensor_core_tiled"],
  ["int4WeightOnly g32 plain", () => int4WeightOnly({ groupSize: 32, layout: "plain" }), "plain"],
  ["int4WeightOnly g64 INT plain", () => int4WeightOnly({ groupSize: 64, layout: "plain", zeroPointDomain: ZeroPointDomain.INT }), "plain"],
];

describe("quantized checkpoints", () => {
  for (const device of devices) {
    for (const [name, config, layout] of CONFIGS) {
      const seed = freshSeed();
      test(`${name}: save, then loadInto a fresh float model: identical outputs (${device}, seed ${seed})`, () => {
        const path = newPath();
        using model = mlp([256, 384, 256], "bf16", device, seed);
        const cfg = config();
        quantize(model, cfg);
        save(model, path);

        const { metadata, tensors } = readSafetensors(path);
        const records = JSON.parse(metadata[QUANTIZATION_METADATA_KEY]!);
        expect(Object.keys(records)).toEqual(["0.weight", "1.weight"]);
        const w0 = model.stateDict()["0.weight"] as AffineQuantizedTensor;
        expect(records["0.weight"]).toEqual(JSON.parse(JSON.stringify(w0.toJSON())));
        expect(records["1.weight"]).toMatchObject({ config: cfg.record, layout: { name: layout }, shape: [256, 384], dtype: "bf16" });
        const keys = Object.keys(w0.storage).flatMap((key) => [`0.weight:${key}`, `1.weight:${key}`]);
        expect([...tensors.keys()].sort()).toEqual(["0.bias", "1.bias", ...keys].sort());

        using fresh = mlp([256, 384, 256], "bf16", device, seed + 1);
        expect(loadInto(fresh, path)).toEqual({ quantized: ["0.weight", "1.weight"], missingKeys: [], unexpectedKeys: [] });
        for (const [, p] of fresh.namedParameters()) expect(p.device).toBe(device);
        expect(snapshot(fresh)).toEqual(snapshot(model));
        expect(output(fresh, 256, device)).toEqual(output(model, 256, device));

        const dict = load(path);
        expect(Object.keys(dict).sort()).toEqual(["0.bias", "0.weight", "1.bias", "1.weight"]);
        expect(dict["0.weight"]).toBeInstanceOf(AffineQuantizedTensor);
        expect((dict["0.weight"] as AffineQuantizedTensor).layout.name).toBe(layout);
      });
    }

    test(`a model with float layers and the plain fallback round-trips (${device})`, () => {
      const path = newPath();
      using model = mlp([256, 100, 256, 128], "bf16", device, 5);
      expect(quantize(model, int4WeightOnly()).skipped.map((s) => s.name)).toEqual(["1"]);
      save(model, path);
      using fresh = mlp([256, 100, 256, 128], "bf16", device, 6);
      expect(loadInto(fresh, path).quantized).toEqual(["0.weight", "2.weight"]);
      expect(Object.keys(JSON.parse(readSafetensors(path).metadata[QUANTIZATION_METADATA_KEY]!))).toEqual(["0.weight", "2.weight"]);
      expect(snapshot(fresh)).toEqual(snapshot(model));
      expect(output(fresh, 256, device)).toEqual(output(model, 256, device));
    });

    test(`plain bf16, f16 and f32 safetensors load into float models (${device})`, () => {
      for (const dtype of ["bf16", "f16", "f32"] as const) {
        const path = newPath();
        using model = mlp([64, 48, 32], dtype, device, 7);
        writeSafetensors(path, model.stateDict() as Record<string, Tensor>);
        using fresh = mlp([64, 48, 32], dtype, device, 8);
        expect(loadInto(fresh, path)).toEqual({ quantized: [], missingKeys: [], unexpectedKeys: [] });
        expect(snapshot(fresh)).toEqual(snapshot(model));
        using f32 = mlp([64, 48, 32], "f32", device, 9); // other dtypes are cast, as torch's copy_ does
        loadInto(f32, path);
        for (const [name, p] of f32.namedParameters()) {
          using want = (model.stateDict()[name] as Tensor).cast("f32");
          expect(mismatches(bits(p as Tensor), bits(want))).toEqual([]);
        }
      }
    });
  }
});

describe("bad checkpoints", () => {
  const path = newPath();
  using model = mlp([128, 64, 32], "bf16", "cpu", 11);
  quantize(model, int4WeightOnly({ groupSize: 64 }));
  save(model, path);
  const bytes = readFileSync(path);

  /** A copy of the checkpoint with its records changed by `edit`. */
  function withRecords(edit: (records: Record<string, Record<string, unknown>>) => void): string {
    const { metadata, tensors } = readSafetensors(path);
    const records = JSON.parse(metadata[QUANTIZATION_METADATA_KEY]!);
    edit(records);
    const out = newPath();
    writeSafetensors(out, tensors, { [QUANTIZATION_METADATA_KEY]: JSON.stringify(records) });
    return out;
  }

  /** loadInto(a fresh model, file) throws a TaoError matching `message` and leaves the model as it was. */
  function rejected(file: string, message: RegExp, features = [128, 64, 32]): void {
    using fresh = mlp(features, "bf16", "cpu", 12);
    const before = snapshot(fresh);
    expect(() => loadInto(fresh, file)).toThrow(TaoError);
    expect(() => loadInto(fresh, file)).toThrow(message);
    expect(snapshot(fresh)).toEqual(before);
  }

  test("a truncated file", () => {
    for (const keep of [4, 100, bytes.length - 1]) {
      const cut = newPath();
      writeFileSync(cut, bytes.subarray(0, keep));
      rejected(cut, /readSafetensors/);
    }
  });

  test("records that lie", () => {
    rejected(withRecords((r) => (r["0.weight"]!.layout = { name: "marlin" })), /unknown layout "marlin"/);
    rejected(withRecords((r) => (r["0.weight"]!.shape = [32, 128])), /packed_weight must be i32 \[4,1,32,4\]/);
    rejected(withRecords((r) => (r["0.weight"]!.blockSize = [1, 48])), /blockSize \[1,48\] does not divide/);
    rejected(withRecords((r) => (r["0.weight"]!.zeroPointDomain = "SOMETIMES")), /unknown zero-point domain/);
    rejected(withRecords((r) => (r["0.weight"]!.layout = { name: "tensor_core_tiled", innerKTiles: 5 })), /innerKTiles=5/);
    rejected(withRecords((r) => (r["0.weight"]!.layout = { name: "plain" })), /the plain layout stores \[int_data,scale,zero_point\]/);
    rejected(withRecords((r) => delete r["1.weight"]), /missing keys \[1.weight\], unexpected keys \[1.weight:/);
    const { tensors } = readSafetensors(path);
    const garbled = newPath();
    writeSafetensors(garbled, tensors, { [QUANTIZATION_METADATA_KEY]: "{not json" });
    rejected(garbled, /metadata is not JSON/);
  });

  test("an int8_weight_only record over zero points that are not 0 (the int8 kernel entry trusts that record)", () => {
    using model8 = mlp([128, 64, 32], "bf16", "cpu", 14);
    quantize(model8, int8WeightOnly());
    const p8 = newPath();
    save(model8, p8);
    const { metadata, tensors } = readSafetensors(p8);
    const zp = tensors.get("0.weight:zero_point")!;
    using bumped = fromArray(Int32Array.from(zp.toArray(), (v, i) => (i === 3 ? v + 1 : v)), { shape: zp.shape });
    tensors.set("0.weight:zero_point", bumped);
    const lying = newPath();
    writeSafetensors(lying, tensors, metadata);
    rejected(lying, /says int8_weight_only \(zero point 0\) but the stored zero points are not all 0/);
  });

  test("a model of another shape, or a dense tensor for a quantized parameter", () => {
    rejected(path, /0.weight: the model has \[96,128\], the file \[64,128\]/, [128, 96, 32]);
    using quantized = mlp([128, 64, 32], "bf16", "cpu", 13);
    quantize(quantized, int8WeightOnly());
    const dense = newPath();
    using plain = mlp([128, 64, 32], "bf16", "cpu", 14);
    writeSafetensors(dense, plain.stateDict() as Record<string, Tensor>);
    expect(() => loadInto(quantized, dense)).toThrow(/0.weight is a quantized weight \(plain layout\)/);
    expect(loadInto(quantized, path).quantized).toEqual(["0.weight", "1.weight"]); // a quantized one replaces it
  });
});

test.skipIf(!hasCuda)(`a CPU checkpoint loads onto cuda:0 as the quantized model moved there${hasCuda ? "" : ` (skipped: ${noCudaReason})`}`, () => {
  const path = newPath();
  using model = mlp([256, 128], "bf16", "cpu", 15);
  quantize(model, int4WeightOnly());
  save(model, path);
  using gpu = mlp([256, 128], "bf16", "cuda:0", 16);
  loadInto(gpu, path);
  expect(gpu.parameters().map((p) => p.device)).toEqual(["cuda:0", "cuda:0"]);
  expect(snapshot(gpu)).toEqual(snapshot(model));
  model.to("cuda:0");
  expect(output(gpu, 256, "cuda:0")).toEqual(output(model, 256, "cuda:0"));
});
