// llama2.c checkpoints: the shipped stories260K, synthetic v0/v1/v2 files from an independent writer,
// corrupted/truncated/lying files (fuzzed), configs and presets, and the Hugging Face round trip.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  convertLlama2cToHf, LLAMA_PRESETS, llamaConfigFromHf, llamaParameterCount, llamaPreset, loadHfLlama, loadLlama2c,
  loadStories260K, parseLlama2c, parseLlama2cHeader, permuteRope, saveHfLlama, storiesModelPath, TaoError, validateLlamaConfig,
  fromArray, type LlamaCheckpoint,
} from "../lib/index.ts";
import { freshSeed, hasCuda, noCudaReason, rng, taoError } from "./helpers.ts";
import { hfView, syntheticModel, writeV0, writeV1, writeV2, type Shape } from "./llama2c_writer.ts";

const shipped = new Uint8Array(readFileSync(storiesModelPath()));

function expectWeights(ckpt: LlamaCheckpoint, want: Map<string, Float32Array>): void {
  expect([...ckpt.weights.keys()].sort()).toEqual([...want.keys()].sort());
  for (const [name, values] of want) {
    const got = ckpt.weights.get(name)!.toArray();
    expect(Buffer.from(got.buffer, got.byteOffset, got.byteLength).equals(Buffer.from(values.buffer, values.byteOffset, values.byteLength)), name).toBe(true);
  }
}

describe("the shipped stories260K checkpoint", () => {
  test("header values, file size and tensor shapes", () => {
    const h = parseLlama2cHeader(shipped);
    expect(h.version).toBe(0);
    expect(h.headerBytes).toBe(28);
    expect(h.config).toEqual({
      dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, seqLen: 512,
      ropeTheta: 10000, normEps: 1e-5, tiedEmbeddings: true, ropeStyle: "interleaved",
    });
    expect(h.config).toEqual(llamaPreset("tiny"));
    expect(shipped.length).toBe(28 + 4 * 264128);
    // 264,128 floats = the weights plus freq_cis (2 × seq_len × head_size/2 = 4096, unused)
    expect(llamaParameterCount(h.config) + 512 * 8).toBe(264128);

    using ckpt = loadLlama2c(storiesModelPath());
    expect(ckpt.weights.size).toBe(1 + 5 * 9 + 1);
    expect(ckpt.weights.has("lm_head.weight")).toBe(false);
    const shape = (n: string) => ckpt.weights.get(n)!.shape;
    expect(shape("model.embed_tokens.weight")).toEqual([512, 64]);
    expect(shape("model.norm.weight")).toEqual([64]);
    for (let i = 0; i < 5; i++) {
      const p = `model.layers.${i}.`;
      expect(shape(`${p}input_layernorm.weight`)).toEqual([64]);
      expect(shape(`${p}self_attn.q_proj.weight`)).toEqual([64, 64]);
      expect(shape(`${p}self_attn.k_proj.weight`)).toEqual([32, 64]);
      expect(shape(`${p}self_attn.v_proj.weight`)).toEqual([32, 64]);
      expect(shape(`${p}self_attn.o_proj.weight`)).toEqual([64, 64]);
      expect(shape(`${p}post_attention_layernorm.weight`)).toEqual([64]);
      expect(shape(`${p}mlp.gate_proj.weight`)).toEqual([172, 64]);
      expect(shape(`${p}mlp.up_proj.weight`)).toEqual([172, 64]);
      expect(shape(`${p}mlp.down_proj.weight`)).toEqual([64, 172]);
    }
    for (const t of ckpt.weights.values()) expect(t.dtype).toBe("f32");
  });

  test("values come from the right offsets (read independently from the bytes)", () => {
    using ckpt = loadLlama2c(storiesModelPath());
    const dv = new DataView(shipped.buffer, shipped.byteOffset);
    const at = (floatIndex: number) => dv.getFloat32(28 + 4 * floatIndex, true);
    // embedding first, then the 5 att norms, then wq of layer 0 …
    expect(ckpt.weights.get("model.embed_tokens.weight")!.toArray()[0]).toBe(at(0));
    expect(ckpt.weights.get("model.layers.0.input_layernorm.weight")!.toArray()[0]).toBe(at(512 * 64));
    expect(ckpt.weights.get("model.layers.1.self_attn.q_proj.weight")!.toArray()[5]).toBe(at(512 * 64 + 5 * 64 + 64 * 64 + 5));
    // … final norm just before freq_cis, at the end minus 2 × 512 × 4 floats
    const norm = ckpt.weights.get("model.norm.weight")!.toArray();
    expect(norm[63]).toBe(at(264128 - 4096 - 1));
  });

  test("loadStories260K gives the checkpoint and its tokenizer; other dtypes and RoPE orders", () => {
    const { checkpoint, tokenizer } = loadStories260K({ dtype: "bf16", ropeStyle: "half" });
    using _ = checkpoint;
    expect(tokenizer.vocabSize).toBe(512);
    expect(checkpoint.config.ropeStyle).toBe("half");
    for (const t of checkpoint.weights.values()) expect(t.dtype).toBe("bf16");
  });

  test.skipIf(!hasCuda)(`loads onto CUDA, same values as on the CPU ${noCudaReason}`, () => {
    using cpu = loadLlama2c(storiesModelPath(), { dtype: "bf16" });
    using gpu = loadLlama2c(storiesModelPath(), { dtype: "bf16", device: "cuda:0" });
    for (const [name, t] of cpu.weights) {
      expect(gpu.weights.get(name)!.device).toBe("cuda:0");
      expect(gpu.weights.get(name)!.toArray()).toEqual(t.toArray());
    }
  });
});

const SHAPES: Shape[] = [
  { dim: 16, hidden: 40, layers: 2, heads: 4, kvHeads: 2, vocab: 32, seq: 8, shared: true },
  { dim: 24, hidden: 20, layers: 3, heads: 2, kvHeads: 1, vocab: 20, seq: 5, shared: false },
];

describe("synthetic files from an independent writer", () => {
  for (const shape of SHAPES) {
    const tag = `dim ${shape.dim}, ${shape.shared ? "tied" : "untied"}`;
    test(`v0 and v1 (${tag}): every weight bit for bit`, () => {
      const m = syntheticModel(shape, 7);
      for (const bytes of [writeV0(m), writeV1(m)]) {
        using ckpt = parseLlama2c(bytes);
        expect(ckpt.config.tiedEmbeddings).toBe(shape.shared);
        expect(ckpt.config.vocabSize).toBe(shape.vocab);
        expectWeights(ckpt, hfView(m));
      }
    });

    test(`v2 Q8_0 (${tag}): dequantized q · scale, norms exact`, () => {
      const m = syntheticModel(shape, 8);
      const gs = 8;
      const { bytes, dequantized } = writeV2(m, gs);
      const h = parseLlama2cHeader(bytes);
      expect(h.version).toBe(2);
      expect(h.groupSize).toBe(gs);
      using ckpt = parseLlama2c(bytes);
      expectWeights(ckpt, hfView(m, dequantized));
    });
  }

  test("a v2 group size that does not divide a matrix is a TaoError", () => {
    const m = syntheticModel(SHAPES[0]!, 9);
    const { bytes } = writeV2(m, 8);
    new DataView(bytes.buffer).setInt32(37, 48, true); // 48 does not divide 16·16 = 256
    expect(taoError(() => parseLlama2c(bytes)).message).toContain("not a multiple of group_size 48");
  });
});

/** A v0 header with these values followed by `floats` zeros (or exactly what the header implies). */
function v0(values: number[], floats?: number): Uint8Array {
  const out = new Uint8Array(28 + 4 * (floats ?? 0));
  values.forEach((v, i) => new DataView(out.buffer).setInt32(4 * i, v, true));
  return out;
}

describe("corrupted, truncated and lying files are TaoErrors", () => {
  test("absurd header values", () => {
    const good = [64, 172, 5, 8, 4, 512, 512];
    const cases: [number[], string][] = [
      [[-64, 172, 5, 8, 4, 512, 512], "dim must be a positive integer"],
      [[64, 0, 5, 8, 4, 512, 512], "hiddenDim must be a positive integer"],
      [[64, 172, 0, 8, 4, 512, 512], "nLayers must be a positive integer"],
      [[64, 172, 5, 0, 4, 512, 512], "nHeads must be a positive integer"],
      [[64, 172, 5, 7, 7, 512, 512], "not divisible by nHeads"],
      [[64, 172, 5, 8, 3, 512, 512], "does not divide nHeads"],
      [[64, 172, 5, 8, 16, 512, 512], "does not divide nHeads"],
      [[64, 172, 5, 64, 64, 512, 512], "head size 1 is odd"],
      [[64, 172, 5, 8, 4, 0, 512], "vocabSize must be a positive integer"],
      [[64, 172, 5, 8, 4, 512, -1], "seqLen must be a positive integer"],
      [[2 ** 31 - 1, 2 ** 31 - 1, 2 ** 31 - 1, 1, 1, 512, 512], "head size"],
      [[2 ** 30, 2 ** 30, 2 ** 30, 2, 2, 2 ** 30, 2 ** 30], "too many to address"],
      [[64, 172, 5, 8, 4, -(2 ** 31), 512], "implies"],
    ];
    for (const [values, message] of cases) {
      const e = taoError(() => parseLlama2c(v0(values, 16)));
      expect(e.codeName).toBe("INVALID_ARGUMENT");
      expect(e.message).toContain(message);
    }
    expect(taoError(() => parseLlama2c(v0(good, 16))).message).toContain("implies 1056540 bytes, the file has 92");
  });

  test("sizes that disagree with the header: short, long, classifier flag flipped", () => {
    expect(taoError(() => parseLlama2c(shipped.slice(0, -4))).message).toContain("implies 1056540 bytes, the file has 1056536");
    const longer = new Uint8Array(shipped.length + 1);
    longer.set(shipped);
    expect(taoError(() => parseLlama2c(longer)).message).toContain("the file has 1056541");
    const untied = shipped.slice();
    new DataView(untied.buffer).setInt32(20, -512, true); // negative vocab: a classifier should follow
    expect(taoError(() => parseLlama2c(untied)).message).toContain("implies 1187612 bytes");
  });

  test("versioned headers: unknown version, bad flag, bad group size, non-zero padding", () => {
    const m = syntheticModel(SHAPES[0]!, 10);
    const v1 = writeV1(m);
    const mutate = (f: (b: Uint8Array, dv: DataView) => void) => {
      const b = v1.slice();
      f(b, new DataView(b.buffer));
      return taoError(() => parseLlama2c(b));
    };
    const v3 = mutate((_, dv) => dv.setInt32(4, 3, true));
    expect(v3.codeName).toBe("UNSUPPORTED");
    expect(v3.message).toContain("version 3");
    expect(mutate((b) => (b[36] = 2)).message).toContain("shared_classifier flag is 2");
    expect(mutate((b) => (b[200] = 1)).message).toContain("header byte 200");
    expect(mutate((_, dv) => dv.setInt32(28, -5, true)).message).toContain("vocab_size must be positive");
    expect(taoError(() => parseLlama2c(v1.slice(0, 100))).message).toContain("shorter than a v1 header");
    const v2 = writeV2(m, 8).bytes;
    new DataView(v2.buffer).setInt32(37, 0, true);
    expect(taoError(() => parseLlama2c(v2)).message).toContain("group_size must be positive");
  });

  test("files: missing, truncated and header-only ones name the path", () => {
    expect(taoError(() => loadLlama2c("/nonexistent/model.bin")).message).toContain("/nonexistent/model.bin");
    const dir = mkdtempSync(join(tmpdir(), "tao-bin-"));
    try {
      for (const n of [0, 20, 28, 100_000]) {
        const path = join(dir, `cut${n}.bin`);
        writeFileSync(path, shipped.subarray(0, n));
        expect(taoError(() => loadLlama2c(path)).message).toContain(path);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("fuzz: every truncation tried and byte flips anywhere in the header", () => {
    const seed = freshSeed();
    const next = rng(seed);
    const m = syntheticModel(SHAPES[1]!, 11);
    const files = [shipped, writeV0(m), writeV1(m), writeV2(m, 4).bytes];
    for (const file of files) {
      const header = file === files[0] || file === files[1] ? 28 : 256;
      const lengths = [...Array.from({ length: header + 8 }, (_, i) => i), ...Array.from({ length: 64 }, () => Math.floor(next() * file.length))];
      for (const n of lengths) {
        if (n === file.length) continue;
        expect(() => parseLlama2c(file.subarray(0, n)), `seed ${seed}, length ${n}`).toThrow(TaoError);
      }
      // Every header byte but v1/v2's seq_len (bytes 32..35: no array's size depends on it there) is
      // significant (sizes, flags, zero padding): any change is caught.
      for (let i = 0; i < header; i++) {
        const bad = file.slice();
        bad[i] ^= 1 + Math.floor(next() * 255);
        const seqLen = header === 256 && i >= 32 && i < 36 ? new DataView(bad.buffer).getInt32(32, true) : null;
        if (seqLen !== null && seqLen > 0) {
          using ckpt = parseLlama2c(bad);
          expect(ckpt.config.seqLen).toBe(seqLen);
        } else {
          expect(() => parseLlama2c(bad), `seed ${seed}, byte ${i}`).toThrow(TaoError);
        }
      }
    }
  }, 60_000);
});

describe("configs and presets", () => {
  test("presets are valid and copies", () => {
    for (const name of LLAMA_PRESETS) validateLlamaConfig(llamaPreset(name), "test");
    const p = llamaPreset("llama3-8b");
    expect([p.dim, p.hiddenDim, p.nLayers, p.nHeads, p.nKvHeads, p.vocabSize, p.ropeTheta]).toEqual([4096, 14336, 32, 32, 8, 128256, 500000]);
    expect(llamaParameterCount(p)).toBe(8030261248); // Llama-3-8B's published count
    expect(llamaParameterCount(llamaPreset("llama2-7b"))).toBe(6738415616); // Llama-2-7B's
    p.dim = 1;
    expect(llamaPreset("llama3-8b").dim).toBe(4096);
    expect(taoError(() => llamaPreset("gpt2")).message).toContain("presets: llama3-8b");
  });

  test("HF config.json: defaults and what is not implemented", () => {
    const base = { hidden_size: 64, intermediate_size: 172, num_hidden_layers: 5, num_attention_heads: 8, vocab_size: 512 };
    expect(llamaConfigFromHf(base)).toEqual({
      dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 8, vocabSize: 512, seqLen: 2048,
      ropeTheta: 10000, normEps: 1e-6, tiedEmbeddings: false, ropeStyle: "half",
    });
    expect(taoError(() => llamaConfigFromHf({ ...base, rope_scaling: { rope_type: "llama3" } })).codeName).toBe("UNSUPPORTED");
    expect(taoError(() => llamaConfigFromHf({ ...base, hidden_act: "gelu" })).codeName).toBe("UNSUPPORTED");
    expect(taoError(() => llamaConfigFromHf({ ...base, head_dim: 16 })).codeName).toBe("UNSUPPORTED");
    expect(taoError(() => llamaConfigFromHf({ ...base, hidden_size: "64" })).message).toContain("hidden_size must be a number");
    expect(taoError(() => llamaConfigFromHf({ ...base, num_key_value_heads: 3 })).message).toContain("does not divide");
  });
});

describe("Hugging Face layout", () => {
  test("permuteRope: HF row h·hd + j·hd/2 + i is llama2.c row h·hd + 2i + j, and back", () => {
    const heads = 3, hd = 6, cols = 2;
    const w = fromArray(Float32Array.from({ length: heads * hd * cols }, (_, i) => i), { shape: [heads * hd, cols] });
    using half = permuteRope(w, heads, "interleaved", "half");
    const a = w.toArray(), b = half.toArray();
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < hd / 2; i++) {
        for (let j = 0; j < 2; j++) {
          for (let c = 0; c < cols; c++) expect(b[(h * hd + j * (hd / 2) + i) * cols + c]).toBe(a[(h * hd + 2 * i + j) * cols + c]!);
        }
      }
    }
    using back = permuteRope(half, heads, "half", "interleaved");
    expect(back.toArray()).toEqual(a);
    expect(permuteRope(w, heads, "half", "half")).toBe(w);
    expect(() => permuteRope(w, 4, "half", "interleaved")).toThrow(TaoError);
  });

  test("llama2.c → HF folder → import: bits identical, both RoPE orders", () => {
    const dir = mkdtempSync(join(tmpdir(), "tao-hf-"));
    try {
      const config = convertLlama2cToHf(storiesModelPath(), dir);
      const json = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
      expect(json).toMatchObject({ hidden_size: 64, intermediate_size: 172, num_hidden_layers: 5, num_attention_heads: 8, num_key_value_heads: 4, vocab_size: 512, max_position_embeddings: 512, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true, torch_dtype: "float32" });
      using original = loadLlama2c(storiesModelPath());
      using back = loadHfLlama(dir, { ropeStyle: "interleaved" });
      expect(back.config).toEqual(config);
      expectWeights(back, new Map([...original.weights].map(([k, t]) => [k, t.toArray() as Float32Array])));

      // The file's own order is "half"; exporting that again writes the same bytes.
      using asStored = loadHfLlama(dir);
      expect(asStored.config.ropeStyle).toBe("half");
      using halfFromBin = loadLlama2c(storiesModelPath(), { ropeStyle: "half" });
      expectWeights(asStored, new Map([...halfFromBin.weights].map(([k, t]) => [k, t.toArray() as Float32Array])));
      const again = join(dir, "again");
      saveHfLlama(asStored, again);
      expect(readFileSync(join(again, "model.safetensors")).equals(readFileSync(join(dir, "model.safetensors")))).toBe(true);

      // bf16 export: the import equals the f32 weights cast to bf16.
      const bf = join(dir, "bf16");
      saveHfLlama(original, bf, { dtype: "bf16" });
      using imported = loadHfLlama(bf, { ropeStyle: "interleaved" });
      using cast = loadLlama2c(storiesModelPath(), { dtype: "bf16" });
      for (const [name, t] of cast.weights) expect(imported.weights.get(name)!.toArray()).toEqual(t.toArray());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("an untied synthetic model round-trips with its lm_head", () => {
    const dir = mkdtempSync(join(tmpdir(), "tao-hf-"));
    try {
      const m = syntheticModel(SHAPES[1]!, 12);
      using ckpt = parseLlama2c(writeV1(m));
      saveHfLlama(ckpt, dir);
      using back = loadHfLlama(dir, { ropeStyle: "interleaved" });
      expectWeights(back, hfView(m));
      expect(taoError(() => loadHfLlama(join(dir, "missing"))).message).toContain("config.json");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
