/**
 * llama2.c's tokenizer (tokenizer.bin, written by its tokenizer.py from a sentencepiece model),
 * little-endian: int32 max_token_length, then per token: float32 merge score, int32 byte length, the
 * bytes. Ids 0, 1, 2 are <unk>, BOS, EOS; ids 3..258 are the byte-fallback tokens "<0x00>".."<0xFF>".
 * encode and decode follow llama2.c's run.c.
 */
import { readFileBytes } from "../serialization/files.ts";
import { invalid } from "../errors.ts";
import { mergeByScore } from "./bpe_merge.ts";
import type { EncodeOptions, TextTokenizer, TokenDecoder } from "./tokenizer.ts";

const BOS = 1, EOS = 2, BYTE_BASE = 3;

/** A byte string as a JS string of code units 0..255 (a Map key that concatenates like the bytes). */
const latin1 = (bytes: Uint8Array): string => String.fromCharCode(...bytes);
const byteToken = (b: number) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`;

/** The tokenizer of llama2.c checkpoints. */
export class Llama2cTokenizer implements TextTokenizer {
  readonly bosId = BOS;
  readonly eosId = EOS;
  readonly #ids = new Map<string, number>();
  /** Each token's bytes as a latin1 key. */
  readonly #keys: string[];
  /** What each id decodes to (a byte token's single byte, else its piece). */
  readonly #text: Uint8Array[];

  private constructor(
    /** Each token's bytes, by id. */
    readonly pieces: readonly Uint8Array[],
    /** Each token's merge score, by id. */
    readonly scores: Float32Array,
    readonly maxTokenLength: number,
  ) {
    this.#keys = pieces.map(latin1);
    this.#keys.forEach((key, id) => {
      if (!this.#ids.has(key)) this.#ids.set(key, id);
    });
    this.#text = pieces.map((p, id) => (id >= BYTE_BASE && id < BYTE_BASE + 256 ? Uint8Array.of(id - BYTE_BASE) : p));
  }

  /**
   * Parses tokenizer.bin bytes. With `vocabSize` (the model's) exactly that many tokens must be
   * there and nothing after them; without, tokens are read to the end. Every record must fit the
   * file, lengths lie in 1..max_token_length, scores are not NaN, and ids 3..258 are the byte
   * tokens <0x00>..<0xFF> (the byte fallback needs them); anything else is a TaoError.
   */
  static parse(bytes: Uint8Array, opts: { vocabSize?: number } = {}, op = "Llama2cTokenizer.parse", where = ""): Llama2cTokenizer {
    const fail = (detail: string) => invalid(op, `${where ? where + ": " : ""}${detail}`);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < 4) throw fail(`${bytes.length} bytes is too short for a tokenizer`);
    const maxTokenLength = dv.getInt32(0, true);
    if (maxTokenLength < 1) throw fail(`max_token_length is ${maxTokenLength}`);
    const { vocabSize } = opts;
    if (vocabSize !== undefined && (!Number.isSafeInteger(vocabSize) || vocabSize < 1)) throw fail(`vocabSize must be a positive integer, not ${vocabSize}`);
    const pieces: Uint8Array[] = [], scores: number[] = [];
    let at = 4;
    while (vocabSize === undefined ? at < bytes.length : pieces.length < vocabSize) {
      const id = pieces.length;
      if (at + 8 > bytes.length) throw fail(`the file ends inside token ${id} (byte ${at} of ${bytes.length})`);
      const score = dv.getFloat32(at, true), len = dv.getInt32(at + 4, true);
      if (Number.isNaN(score)) throw fail(`token ${id} has a NaN score`);
      if (len < 1 || len > maxTokenLength) throw fail(`token ${id} has length ${len}, outside 1..max_token_length ${maxTokenLength}`);
      if (at + 8 + len > bytes.length) throw fail(`the file ends inside token ${id} (byte ${at + 8} + ${len} of ${bytes.length})`);
      pieces.push(bytes.slice(at + 8, at + 8 + len));
      scores.push(score);
      at += 8 + len;
    }
    if (at !== bytes.length) throw fail(`${bytes.length - at} bytes follow the ${pieces.length} tokens`);
    if (pieces.length < BYTE_BASE + 256) throw fail(`${pieces.length} tokens; a llama2.c tokenizer has at least ${BYTE_BASE + 256}`);
    for (let b = 0; b < 256; b++) {
      const got = latin1(pieces[BYTE_BASE + b]!);
      if (got !== byteToken(b)) throw fail(`token ${BYTE_BASE + b} is ${JSON.stringify(got)}, not the byte token ${byteToken(b)}`);
    }
    return new Llama2cTokenizer(pieces, Float32Array.from(scores), maxTokenLength);
  }

  /** Loads a tokenizer.bin file; see parse. */
  static load(path: string, opts: { vocabSize?: number } = {}): Llama2cTokenizer {
    const op = "Llama2cTokenizer.load";
    return Llama2cTokenizer.parse(readFileBytes(path, op), opts, op, path);
  }

  get vocabSize(): number {
    return this.pieces.length;
  }

  /** The id of the token spelled by `piece` (UTF-8), or -1. */
  lookup(piece: string): number {
    return this.#ids.get(latin1(new TextEncoder().encode(piece))) ?? -1;
  }

  /**
   * llama2.c's encode: [BOS], then, for non-empty text, the token of " " (the dummy prefix), then per
   * UTF-8 character (a lead byte and at most 3 continuation bytes) its token, or when the vocabulary
   * lacks it one byte token (byte + 3) per byte; then the highest-scoring adjacent pairs merge
   * (mergeByScore) until none does; [EOS]. The text is encoded to UTF-8 first (a lone surrogate
   * becomes U+FFFD); unlike llama2.c's C strings, a NUL character is encoded (as <0x00>) too.
   */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const bytes = new TextEncoder().encode(text);
    const tokens: number[] = [];
    if (bytes.length > 0) tokens.push(this.#ids.get(" ") ?? BYTE_BASE + 0x20);
    for (let start = 0; start < bytes.length;) {
      let end = start + 1;
      while (end < bytes.length && (bytes[end]! & 0xc0) === 0x80 && end - start < 4) end++;
      const char = bytes.subarray(start, end);
      const id = this.#ids.get(latin1(char));
      if (id !== undefined) tokens.push(id);
      else for (const b of char) tokens.push(b + BYTE_BASE);
      start = end;
    }
    const keys = this.#keys;
    const merged = mergeByScore(tokens, (a, b) => this.#ids.get(keys[a]! + keys[b]!) ?? -1, (id) => this.scores[id]!);
    return [...((opts.bos ?? true) ? [BOS] : []), ...merged, ...((opts.eos ?? false) ? [EOS] : [])];
  }

  /**
   * llama2.c's decode of one token after `prev`: a byte token gives its byte; the piece following BOS
   * loses its leading space (the dummy prefix); BOS and EOS give nothing. An id outside the
   * vocabulary is a TaoError.
   */
  tokenBytes(prev: number, id: number): Uint8Array {
    if (!Number.isInteger(id) || id < 0 || id >= this.pieces.length) throw invalid("Llama2cTokenizer.decode", `token id ${id} is outside 0..${this.pieces.length - 1}`);
    if (id === BOS || id === EOS) return new Uint8Array(0);
    const text = this.#text[id]!;
    return prev === BOS && text[0] === 0x20 ? text.subarray(1) : text;
  }

  /** The text of `ids` (see tokenBytes); invalid UTF-8 becomes U+FFFD. decode(encode(s)) === s. */
  decode(ids: readonly number[]): string {
    const d = this.decoder();
    return ids.map((id) => d.push(id)).join("") + d.flush();
  }

  /** A streaming decoder that holds back the bytes of an unfinished UTF-8 character. */
  decoder(): TokenDecoder {
    const utf8 = new TextDecoder("utf-8", { ignoreBOM: true });
    let prev = -1;
    return {
      push: (id) => {
        const bytes = this.tokenBytes(prev, id);
        prev = id;
        return utf8.decode(bytes, { stream: true });
      },
      flush: () => utf8.decode(),
    };
  }
}
