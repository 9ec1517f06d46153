// Tokenizers: llama2.c's tokenizer.bin (exact ids derived by hand, llama2.c's encode loop transcribed
// naively as a reference, round trip over the whole TinyStories text, streaming decode, corrupted
// files) and the tokenizer.json path (@huggingface/tokenizers) made from the same vocabulary.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  HfTokenizer, Llama2cTokenizer, loadTokenizer, saveLlama2cTokenizerAsHf, storiesModelPath, storiesValidationPieces, TaoError,
} from "../lib/index.ts";
import { freshSeed, rng, taoError } from "./helpers.ts";

const tokPath = storiesModelPath("tok512.bin");
const file = new Uint8Array(readFileSync(tokPath));
const tok = Llama2cTokenizer.load(tokPath, { vocabSize: 512 });
const text = readFileSync(storiesModelPath("tinystories_val.txt"), "utf8");
const pieces = storiesValidationPieces();

/** tok512.bin read independently: pieces (latin1 strings of their bytes) and scores by id. */
function readVocab(bytes: Uint8Array): { piece: string[]; score: number[] } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const piece: string[] = [], score: number[] = [];
  for (let at = 4; at < bytes.length;) {
    const len = dv.getInt32(at + 4, true);
    score.push(dv.getFloat32(at, true));
    piece.push(String.fromCharCode(...bytes.subarray(at + 8, at + 8 + len)));
    at += 8 + len;
  }
  return { piece, score };
}
const vocab = readVocab(file);
const utf8 = (s: string) => String.fromCharCode(...new TextEncoder().encode(s));

/** llama2.c run.c's encode, transcribed literally (rescan all pairs after every merge). */
function naiveEncode(s: string): number[] {
  const ids = new Map<string, number>();
  vocab.piece.forEach((p, i) => ids.has(p) || ids.set(p, i));
  const bytes = new TextEncoder().encode(s);
  const tokens: number[] = bytes.length ? [ids.get(" ")!] : [];
  let buf: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    if ((bytes[i]! & 0xc0) !== 0x80) buf = [];
    buf.push(bytes[i]!);
    if (i + 1 < bytes.length && (bytes[i + 1]! & 0xc0) === 0x80 && buf.length < 4) continue;
    const id = ids.get(String.fromCharCode(...buf));
    if (id !== undefined) tokens.push(id);
    else tokens.push(...buf.map((b) => b + 3));
    buf = [];
  }
  for (;;) {
    let best = -1e10, bestId = -1, bestIdx = -1;
    for (let i = 0; i < tokens.length - 1; i++) {
      const id = ids.get(vocab.piece[tokens[i]!]! + vocab.piece[tokens[i + 1]!]!);
      if (id !== undefined && vocab.score[id]! > best) [best, bestId, bestIdx] = [vocab.score[id]!, id, i];
    }
    if (bestIdx === -1) break;
    tokens.splice(bestIdx, 2, bestId);
  }
  return [1, ...tokens];
}

describe("llama2.c tokenizer", () => {
  test("the file: 512 tokens, specials and byte tokens where the format puts them", () => {
    expect(tok.vocabSize).toBe(512);
    expect(tok.maxTokenLength).toBe(7);
    expect([tok.bosId, tok.eosId]).toEqual([1, 2]);
    expect(vocab.piece.slice(0, 4)).toEqual(["<unk>", "\n<s>\n", "\n</s>\n", "<0x00>"]);
    expect(vocab.piece[258]).toBe("<0xFF>");
  });

  test("exact ids derived by hand from tok512.bin", () => {
    // Pieces and scores below are read off the file (checked by the loop at the end).
    // "a": BOS 1, dummy prefix " " (410), "a" (412). The only pair " a" is 261 (score −2) → [1, 261].
    expect(tok.encode("a")).toEqual([1, 261]);
    // "Once": [" " 410, "O" 441, "n" 416, "c" 429, "e" 411]. Pairs in the vocabulary: " O" 319 (−60),
    // "ce" 331 (−72) ("On", "nc" are not). Best " O" → [319, 416, 429, 411]; then " On" 321 (−62)
    // beats "ce" → [321, 429, 411]; then "ce" → [321, 331]; then " Once" 403 (−144) → [403].
    expect(tok.encode("Once")).toEqual([1, 403]);
    // "Lily": [" " 410, "L" 438, "i" 417, "l" 421, "y" 422]: "il" 290 (−31) first, then " L" 307 (−48),
    // then "ily" 310 (−51), then " Lily" 317 (−58).
    expect(tok.encode("Lily")).toEqual([1, 317]);
    // "hé!": " " 410, "h" 415, "é" 485 (two UTF-8 bytes, one vocabulary entry), "!" 443; only " h" 270
    // (−11) merges ("hé", "é!" are not pieces).
    expect(tok.encode("hé!")).toEqual([1, 270, 485, 443]);
    // "😀" (F0 9F 98 80) is not in the vocabulary: byte fallback, byte + 3 each; nothing merges.
    expect(tok.encode("😀")).toEqual([1, 410, 0xf0 + 3, 0x9f + 3, 0x98 + 3, 0x80 + 3]);
    // Empty text: no dummy prefix. eos appends 2; bos: false drops the 1.
    expect(tok.encode("")).toEqual([1]);
    expect(tok.encode("a", { bos: false, eos: true })).toEqual([261, 2]);
    const named: [number, string, number][] = [
      [261, " a", -2], [403, " Once", -144], [319, " O", -60], [321, " On", -62], [331, "ce", -72], [290, "il", -31],
      [307, " L", -48], [310, "ily", -51], [317, " Lily", -58], [270, " h", -11], [410, " ", -151], [485, utf8("é"), vocab.score[485]!],
    ];
    for (const [id, piece, score] of named) expect([id, vocab.piece[id], vocab.score[id]]).toEqual([id, piece, score]);
    expect(tok.lookup(" Once")).toBe(403);
    expect(tok.lookup("zzzz")).toBe(-1);
  });

  test("encode equals llama2.c's loop transcribed naively (random strings and stories)", () => {
    const seed = freshSeed();
    const next = rng(seed);
    const alphabet = [..."  aeiouyLlOnce.,!?'\"\n\t", "é", "ü", "中", "😀", "€", "\u0000", "<0x41>", "<s>"];
    for (let n = 0; n < 300; n++) {
      const s = Array.from({ length: Math.floor(next() * 40) }, () => alphabet[Math.floor(next() * alphabet.length)]).join("");
      expect(tok.encode(s), `seed ${seed}: ${JSON.stringify(s)}`).toEqual(naiveEncode(s));
    }
    for (const p of pieces.slice(0, 40)) expect(tok.encode(p)).toEqual(naiveEncode(p));
  });

  test("decode(encode(s)) === s for every piece of tinystories_val.txt, and for the whole file", () => {
    expect(pieces.length).toBeGreaterThan(4000);
    for (const p of pieces) expect(tok.decode(tok.encode(p))).toBe(p);
    expect(tok.decode(tok.encode(text, { eos: true }))).toBe(text);
    for (const s of ["\uFEFFbom", " leading space", "😀 mixed ünïcödé 中文", "\u0000nul"]) expect(tok.decode(tok.encode(s))).toBe(s);
  });

  test("streaming decoder emits only whole characters and adds up to decode()", () => {
    const ids = tok.encode("héllo 😀 wörld 中文");
    const d = tok.decoder();
    const chunks = ids.map((id) => d.push(id));
    expect(chunks.join("") + d.flush()).toBe(tok.decode(ids));
    for (const c of chunks) expect(c).not.toContain("\uFFFD");
    // The emoji's four byte tokens: nothing until the last one.
    const emoji = tok.encode("😀", { bos: false }).slice(1);
    const e = tok.decoder();
    expect(emoji.map((id) => e.push(id))).toEqual(["", "", "", "😀"]);
    // An unfinished character at the end becomes U+FFFD on flush.
    const cut = tok.decoder();
    cut.push(0xf0 + 3);
    expect(cut.flush()).toBe("\uFFFD");
    expect(() => tok.decode([512])).toThrow(TaoError);
    expect(tok.decode([1, 2])).toBe("");
  });
});

describe("corrupted and truncated tokenizer files are TaoErrors", () => {
  test("every truncation", () => {
    for (let n = 0; n < file.length; n++) expect(() => Llama2cTokenizer.parse(file.subarray(0, n), { vocabSize: 512 })).toThrow(TaoError);
    const longer = new Uint8Array(file.length + 1);
    longer.set(file);
    expect(taoError(() => Llama2cTokenizer.parse(longer, { vocabSize: 512 })).message).toContain("1 bytes follow the 512 tokens");
    // Without the vocabulary size a cut inside a record is still caught.
    expect(taoError(() => Llama2cTokenizer.parse(file.subarray(0, file.length - 1))).message).toContain("ends inside token 511");
  });

  test("lying fields", () => {
    const mutate = (f: (dv: DataView, b: Uint8Array) => void) => {
      const b = file.slice();
      f(new DataView(b.buffer), b);
      return taoError(() => Llama2cTokenizer.parse(b, { vocabSize: 512 })).message;
    };
    expect(mutate((dv) => dv.setInt32(0, 0, true))).toContain("max_token_length is 0");
    expect(mutate((dv) => dv.setInt32(8, 8, true))).toContain("token 0 has length 8");
    expect(mutate((dv) => dv.setInt32(8, -1, true))).toContain("token 0 has length -1");
    expect(mutate((dv) => dv.setFloat32(4, NaN, true))).toContain("NaN score");
    const byte3 = 4 + 8 + 5 + 8 + 5 + 8 + 6 + 8; // after <unk>, \n<s>\n, \n</s>\n: the bytes of "<0x00>"
    expect(mutate((_, b) => (b[byte3 + 4] = 0x31))).toContain("not the byte token <0x00>");
    expect(taoError(() => Llama2cTokenizer.load("/nonexistent/tok.bin")).message).toContain("/nonexistent/tok.bin");
  });

  test("fuzz: random byte flips give a tokenizer or a TaoError, never anything else", () => {
    const seed = freshSeed();
    const next = rng(seed);
    for (let n = 0; n < 300; n++) {
      const b = file.slice();
      for (let k = 0; k < 3; k++) b[Math.floor(next() * b.length)] ^= 1 + Math.floor(next() * 255);
      try {
        const t = Llama2cTokenizer.parse(b, { vocabSize: 512 });
        expect(t.decode(t.encode("Once upon a time"))).toBeString();
      } catch (e) {
        expect(e, `seed ${seed}`).toBeInstanceOf(TaoError);
      }
    }
  });
});

describe("tokenizer.json (@huggingface/tokenizers)", () => {
  test("made from tok512: same ids as llama2.c's encode, same decode, streaming", () => {
    const dir = mkdtempSync(join(tmpdir(), "tao-tok-"));
    try {
      saveLlama2cTokenizerAsHf(tok, dir);
      const hf = HfTokenizer.load(dir);
      expect([hf.vocabSize, hf.bosId, hf.eosId]).toEqual([512, 1, 2]);
      for (const s of ["Once", "hé!", "😀", "  two  spaces\n\nnewlines\t\ttabs", ...pieces.slice(0, 200)]) {
        expect(hf.encode(s)).toEqual(tok.encode(s));
        expect(hf.decode(hf.encode(s))).toBe(s);
      }
      expect(hf.encode("a", { bos: false, eos: true })).toEqual([261, 2]);
      const ids = hf.encode("héllo 😀 wörld");
      const d = hf.decoder();
      const chunks = ids.map((id) => d.push(id));
      expect(chunks.join("") + d.flush()).toBe("héllo 😀 wörld");
      for (const c of chunks) expect(c).not.toContain("\uFFFD");
      expect(loadTokenizer(join(dir, "tokenizer.json"))).toBeInstanceOf(HfTokenizer);
      expect(loadTokenizer(tokPath)).toBeInstanceOf(Llama2cTokenizer);
      expect(() => HfTokenizer.load(join(dir, "missing.json"))).toThrow(TaoError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
