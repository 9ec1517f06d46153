// The fused projections of the Llama (its default): self_attn.qkv_proj = [Wq; Wk; Wv] and
// mlp.gate_up_proj = [Wgate; Wup], against the same model with fuse: false. Weights stacked from the
// checkpoint; f32 logits of prefill (M > 1) and decode steps bit for bit on the CPU; every per-row
// quantization scheme (group-wise int4 included) giving the fused Linear the unfused rows, so the same
// logits, for GQA and MHA shapes; save → loadInto of a quantized fused model.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AffineQuantizedTensor, fromArray, int4WeightOnly, Linear, Llama, llamaPreset, loadStories260K, quantize, type LlamaConfig, type Tensor,
} from "../lib/index.ts";
import { llamaScheme } from "../lib/cli/schemes.ts";
import { devices } from "./helpers.ts";
import { expectSameAfterReload } from "./llama_roundtrip.ts";

const dir = mkdtempSync(join(tmpdir(), "tao-fused-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const { tokenizer } = loadStories260K();
const PROMPT = tokenizer.encode("Once upon a time, there was a little dog", { bos: true });

function stories(fuse: boolean, device = "cpu"): Llama {
  using checkpoint = loadStories260K({ device }).checkpoint;
  return Llama.fromCheckpoint(checkpoint, { fuse });
}

/** Logits of every prompt position (one prefill, M = T rows), then of `steps` one-token decode steps. */
function logits(m: Llama, ids: number[], steps = 4): Float32Array[] {
  using cache = m.newCache(1, ids.length + steps);
  using x = fromArray(Int32Array.from(ids), { shape: [1, ids.length] }).to(m.device);
  using all = m.forward(x, cache, { logits: "all" });
  const out = [all.toArray() as Float32Array];
  for (let s = 0; s < steps; s++) {
    using one = fromArray(Int32Array.of(ids[(3 * s + 1) % ids.length]!), { shape: [1, 1] }).to(m.device);
    using y = m.forward(one, cache);
    out.push(y.toArray() as Float32Array);
  }
  return out;
}

/** max |a − b| / max |b| over all the arrays. */
function relMax(a: Float32Array[], b: Float32Array[]): number {
  let d = 0, s = 0;
  b.forEach((bb, k) => bb.forEach((v, i) => ((d = Math.max(d, Math.abs(a[k]![i]! - v))), (s = Math.max(s, Math.abs(v))))));
  return d / s;
}

const linearNames = (m: Llama) => m.namedModules().filter(([, l]) => l instanceof Linear).map(([n]) => n);

describe("fused q|k|v and gate|up projections", () => {
  test("the fused Linears stack the checkpoint's weights; fuse: false keeps the seven projections", () => {
    const { checkpoint } = loadStories260K();
    const p = "model.layers.3.";
    const w = (name: string) => Array.from(checkpoint.weights.get(`${p}${name}.weight`)!.toArray());
    const qkv = [...w("self_attn.q_proj"), ...w("self_attn.k_proj"), ...w("self_attn.v_proj")];
    const gateUp = [...w("mlp.gate_proj"), ...w("mlp.up_proj")];
    using model = Llama.fromCheckpoint(checkpoint);
    checkpoint.dispose();
    expect(model.fused).toBe(true);
    const params = new Map(model.namedParameters());
    const fusedQkv = params.get(`${p}self_attn.qkv_proj.weight`) as Tensor, fusedGu = params.get(`${p}mlp.gate_up_proj.weight`) as Tensor;
    expect(fusedQkv.shape).toEqual([64 + 2 * 32, 64]);
    expect(fusedGu.shape).toEqual([2 * 172, 64]);
    expect(Array.from(fusedQkv.toArray())).toEqual(qkv);
    expect(Array.from(fusedGu.toArray())).toEqual(gateUp);
    expect(linearNames(model).filter((n) => n.startsWith("model.layers.0."))).toEqual(
      ["self_attn.qkv_proj", "self_attn.o_proj", "mlp.gate_up_proj", "mlp.down_proj"].map((n) => `model.layers.0.${n}`),
    );
    using unfused = stories(false);
    expect(unfused.fused).toBe(false);
    expect(linearNames(unfused).filter((n) => n.startsWith("model.layers.0."))).toEqual(
      ["q_proj", "k_proj", "v_proj", "o_proj"].map((n) => `model.layers.0.self_attn.${n}`).concat(
        ["gate_proj", "up_proj", "down_proj"].map((n) => `model.layers.0.mlp.${n}`),
      ),
    );
  });

  for (const device of devices) {
    test(`f32 prefill and decode logits equal the unfused model's (${device}; bit for bit on the CPU)`, () => {
      using fused = stories(true, device), unfused = stories(false, device);
      const a = logits(fused, PROMPT), b = logits(unfused, PROMPT);
      // The CPU's linear computes each output as its own dot product along K, whatever N; cuBLASLt may
      // pick another algorithm for the larger N (f32 rounding only).
      if (device === "cpu") expect(a).toEqual(b);
      else expect(relMax(a, b)).toBeLessThan(1e-5);
    });
  }

  test("synthetic weights: the parts keep their seeds, so the fused model computes the unfused one's logits", () => {
    const config = { ...llamaPreset("tiny"), vocabSize: 96, nLayers: 2 };
    using fused = new Llama(config, { seed: 9 }), unfused = new Llama(config, { seed: 9, fuse: false });
    expect(logits(fused, [1, 5, 9, 2, 7])).toEqual(logits(unfused, [1, 5, 9, 2, 7]));
  });

  // K = 128 and 256 (so int4 g128 and its tensor-core-tiled layout apply), 2 layers; GQA and MHA (AWQ
  // folds o_proj's scale into the v rows of qkv_proj only when every head has its own kv head).
  const base: LlamaConfig = { ...llamaPreset("tiny"), dim: 128, hiddenDim: 256, nHeads: 4, vocabSize: 96, nLayers: 2, seqLen: 64 };
  const shapes: [string, LlamaConfig][] = [["GQA", { ...base, nKvHeads: 2 }], ["MHA", { ...base, nKvHeads: 4 }]];
  // Not here: HQQ (its solver stops when the whole weight's mean error stops falling), NF4 (its block
  // scales are quantized in runs of 256 across the tensor) and SmoothQuant (per-channel factors from the
  // weight's columns): valid schemes for the fused Linear, but their parameters span the parts.
  const schemes = ["int8wo", "int4wo-128", "int4wo-32", "w8a8", "float8wo", "float8-row", "sparse24", "gptq-int4-32", "awq-int4-32", "wanda24"];
  const calibration = [Array.from({ length: 24 }, (_, i) => (i * 37 + 3) % 96), Array.from({ length: 16 }, (_, i) => (i * 11 + 5) % 96)];
  test.each(shapes)("%s: every per-row scheme gives the fused Linear the unfused rows (identical logits on the CPU)", (_, config) => {
    for (const name of schemes) {
      using fused = new Llama(config, { seed: 2 }), unfused = new Llama(config, { seed: 2, fuse: false });
      llamaScheme(name)!.apply(fused, calibration);
      llamaScheme(name)!.apply(unfused, calibration);
      expect(logits(fused, calibration[0]!.slice(0, 12)), name).toEqual(logits(unfused, calibration[0]!.slice(0, 12)));
    }
  });

  test("int4 g128 (groups along K): the fused weight dequantizes to the unfused parts' rows, stacked", () => {
    const config = shapes[0]![1];
    using fused = new Llama(config, { seed: 2 }), unfused = new Llama(config, { seed: 2, fuse: false });
    quantize(fused, int4WeightOnly({ groupSize: 128 }));
    quantize(unfused, int4WeightOnly({ groupSize: 128 }));
    const weightOf = (m: Llama, path: string) => {
      const w = (m.getModule("model").getModule("layers").getModule("1").getModule(path.split(".")[0]!).getModule(path.split(".")[1]!) as Linear).weight;
      expect(w).toBeInstanceOf(AffineQuantizedTensor);
      using plain = (w as AffineQuantizedTensor).dequantize();
      return Array.from(plain.toArray());
    };
    expect(weightOf(fused, "self_attn.qkv_proj")).toEqual(["q_proj", "k_proj", "v_proj"].flatMap((n) => weightOf(unfused, `self_attn.${n}`)));
    expect(weightOf(fused, "mlp.gate_up_proj")).toEqual(["gate_proj", "up_proj"].flatMap((n) => weightOf(unfused, `mlp.${n}`)));
  });

  test("a quantized fused model saves under the fused names and loads into a fresh fused model", () => {
    using model = stories(true);
    quantize(model, int4WeightOnly({ groupSize: 32 }));
    const quantized = expectSameAfterReload(model, () => stories(true), PROMPT, join(dir, "fused.safetensors"));
    expect(quantized.length).toBe(16); // 5 × (qkv_proj, o_proj, gate_up_proj) + lm_head; down_proj's K = 172
    expect(quantized).toContain("model.layers.4.self_attn.qkv_proj.weight");
    expect(quantized).toContain("model.layers.4.mlp.gate_up_proj.weight");
  });
});
