// The llama2.c loader, the HF export/import and the tokenizers under Deno.
import {
  convertLlama2cToHf, HfTokenizer, Llama2cTokenizer, loadHfLlama, loadStories260K, parseLlama2c, saveLlama2cTokenizerAsHf,
  storiesModelPath, storiesValidationPieces, TaoError,
} from "../../lib/index.ts";
import { hfView, syntheticModel, writeV2 } from "../llama2c_writer.ts";
import { assert, assertEquals, assertThrows } from "./assert.ts";

Deno.test("the shipped checkpoint and tokenizer load", () => {
  const { checkpoint, tokenizer } = loadStories260K();
  using _ = checkpoint;
  assertEquals(checkpoint.config.dim, 64);
  assertEquals(checkpoint.config.nKvHeads, 4);
  assertEquals(checkpoint.weights.get("model.layers.4.mlp.down_proj.weight")!.shape, [64, 172]);
  assertEquals(tokenizer.encode("Once upon a time"), [1, 403, 407, 261, 378]);
  for (const p of storiesValidationPieces().slice(0, 300)) assertEquals(tokenizer.decode(tokenizer.encode(p)), p);
});

Deno.test("v2 files dequantize as written; truncated files are TaoErrors", () => {
  const m = syntheticModel({ dim: 16, hidden: 40, layers: 2, heads: 4, kvHeads: 2, vocab: 32, seq: 8, shared: false }, 3);
  const { bytes, dequantized } = writeV2(m, 8);
  using ckpt = parseLlama2c(bytes);
  for (const [name, values] of hfView(m, dequantized)) assertEquals(ckpt.weights.get(name)!.toArray(), values, name);
  for (const n of [0, 27, 255, 300, bytes.length - 1]) assertThrows(() => parseLlama2c(bytes.subarray(0, n)), TaoError);
  assertThrows(() => Llama2cTokenizer.parse(new Uint8Array(10), { vocabSize: 512 }), TaoError);
});

// Writes a temporary folder: the suite runs with --allow-write (package.json test:deno).
Deno.test("HF export → import round trip, tokenizer.json with the same ids", () => {
  const dir = Deno.makeTempDirSync();
  try {
    convertLlama2cToHf(storiesModelPath(), dir);
    const { checkpoint, tokenizer } = loadStories260K();
    using _ = checkpoint;
    using back = loadHfLlama(dir, { ropeStyle: "interleaved" });
    for (const [name, t] of checkpoint.weights) assertEquals(back.weights.get(name)!.toArray(), t.toArray(), name);
    saveLlama2cTokenizerAsHf(tokenizer, dir);
    const hf = HfTokenizer.load(dir);
    for (const s of ["Once upon a time", "hé! 😀", ...storiesValidationPieces().slice(0, 20)]) assertEquals(hf.encode(s), tokenizer.encode(s));
    assert(hf.decode(hf.encode("Lily")) === "Lily");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

