/**
 * A llama2.c tokenizer as Hugging Face tokenizer.json + tokenizer_config.json, in the form
 * transformers' LlamaTokenizerFast uses for sentencepiece BPE models: spaces become "▁" with one
 * prepended (the dummy prefix), a BPE model with byte fallback, and merges derived from the vocabulary
 * as transformers' SentencePieceExtractor does: every split of a piece into two pieces of the
 * vocabulary, ranked by the merged piece's score (highest first). Merging the best-ranked adjacent
 * pair is then llama2.c's "merge the highest-scoring pair", so both give the same ids.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ErrorCode, invalid, TaoError } from "../errors.ts";
import type { Llama2cTokenizer } from "./llama2c_tokenizer.ts";

const SPACE = "\u2581";
const SPECIAL = ["<unk>", "<s>", "</s>"];

const special = (id: number) => ({ id, content: SPECIAL[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });

/** The tokenizer.json and tokenizer_config.json objects of `tok`; a piece that is not valid UTF-8 is a TaoError UNSUPPORTED. */
export function llama2cTokenizerToHf(tok: Llama2cTokenizer): { tokenizer: object; config: object } {
  const op = "llama2cTokenizerToHf";
  const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  const pieces = tok.pieces.map((p, id) => {
    if (id < SPECIAL.length) return SPECIAL[id]!;
    try {
      return utf8.decode(p).replaceAll(" ", SPACE);
    } catch {
      throw new TaoError(ErrorCode.UNSUPPORTED, op, `token ${id} is not valid UTF-8, which tokenizer.json cannot hold`);
    }
  });
  const vocab: Record<string, number> = {};
  pieces.forEach((p, id) => {
    if (!Object.hasOwn(vocab, p)) vocab[p] = id;
  });
  const merges: { pair: [string, string]; score: number; order: number }[] = [];
  pieces.forEach((piece, id) => {
    if (id < SPECIAL.length + 256) return;
    const chars = [...piece];
    const local: [string, string][] = [];
    for (let i = 1; i < chars.length; i++) {
      const l = chars.slice(0, i).join(""), r = chars.slice(i).join("");
      if (Object.hasOwn(vocab, l) && Object.hasOwn(vocab, r)) local.push([l, r]);
    }
    local.sort((a, b) => vocab[a[0]]! - vocab[b[0]]! || vocab[a[1]]! - vocab[b[1]]!);
    for (const pair of local) merges.push({ pair, score: tok.scores[id]!, order: merges.length });
  });
  merges.sort((a, b) => b.score - a.score || a.order - b.order);
  const tokenizer = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: SPECIAL.map((_, id) => special(id)),
    normalizer: { type: "Sequence", normalizers: [{ type: "Prepend", prepend: SPACE }, { type: "Replace", pattern: { String: " " }, content: SPACE }] },
    pre_tokenizer: null,
    post_processor: null,
    decoder: {
      type: "Sequence",
      decoders: [
        { type: "Replace", pattern: { String: SPACE }, content: " " }, { type: "ByteFallback" }, { type: "Fuse" },
        { type: "Strip", content: " ", start: 1, stop: 0 },
      ],
    },
    model: {
      type: "BPE", dropout: null, unk_token: "<unk>", continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges: merges.map((m) => m.pair),
    },
  };
  const config = {
    tokenizer_class: "LlamaTokenizerFast", bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>",
    add_bos_token: true, add_eos_token: false, legacy: true, model_max_length: 1_000_000, clean_up_tokenization_spaces: false,
  };
  return { tokenizer, config };
}

/** Writes tokenizer.json and tokenizer_config.json of `tok` into folder `dir` (created if needed). */
export function saveLlama2cTokenizerAsHf(tok: Llama2cTokenizer, dir: string): void {
  const { tokenizer, config } = llama2cTokenizerToHf(tok);
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tokenizer));
    writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(config, null, 2) + "\n");
  } catch (e) {
    throw invalid("saveLlama2cTokenizerAsHf", `${dir}: cannot write: ${(e as Error).message}`);
  }
}
