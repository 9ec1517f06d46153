/**
 * Hugging Face tokenizer.json (+ tokenizer_config.json) through @huggingface/tokenizers (pure JS),
 * behind the same TextTokenizer interface as the llama2.c tokenizer.
 */
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { invalid } from "../errors.ts";
import { readJsonObject } from "../serialization/files.ts";
import type { EncodeOptions, TextTokenizer, TokenDecoder } from "./tokenizer.ts";

/** A tokenizer.json tokenizer. BOS/EOS are added by encode's options only (never by its post-processor). */
export class HfTokenizer implements TextTokenizer {
  readonly bosId: number | null;
  readonly eosId: number | null;
  readonly vocabSize: number;

  private constructor(readonly tokenizer: Tokenizer, config: Record<string, unknown>) {
    const special = (key: string): number | null => {
      const v = config[key];
      const content = typeof v === "string" ? v : (v as { content?: unknown } | null)?.content;
      return typeof content === "string" ? (tokenizer.token_to_id(content) ?? null) : null;
    };
    this.bosId = special("bos_token");
    this.eosId = special("eos_token");
    this.vocabSize = tokenizer.get_vocab().size;
  }

  /**
   * Loads tokenizer.json from `path` (the file, or a folder holding it) with tokenizer_config.json
   * beside it when there is one (it names bos_token and eos_token). An unreadable or malformed file
   * is a TaoError.
   */
  static load(path: string): HfTokenizer {
    const op = "HfTokenizer.load";
    const file = existsSync(path) && statSync(path).isDirectory() ? join(path, "tokenizer.json") : path;
    const json = readJsonObject(file, op);
    const configPath = join(dirname(file), "tokenizer_config.json");
    const config = existsSync(configPath) ? readJsonObject(configPath, op) : {};
    try {
      return new HfTokenizer(new Tokenizer(json, config), config);
    } catch (e) {
      throw invalid(op, `${file}: ${(e as Error).message}`);
    }
  }

  /** Token ids of `text` with BOS (default on, when the tokenizer has one) and EOS (default off). */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const ids = this.tokenizer.encode(text, { add_special_tokens: false }).ids;
    const bos = (opts.bos ?? true) && this.bosId !== null ? [this.bosId] : [];
    const eos = (opts.eos ?? false) && this.eosId !== null ? [this.eosId] : [];
    return [...bos, ...ids, ...eos];
  }

  /** The text of `ids`, special tokens skipped. */
  decode(ids: readonly number[]): string {
    return this.tokenizer.decode([...ids], { skip_special_tokens: true, clean_up_tokenization_spaces: false });
  }

  /**
   * A streaming decoder: it re-decodes the ids so far and emits what is new, holding back text that
   * ends in U+FFFD (an unfinished byte-fallback character). Cost grows with the stream's length.
   */
  decoder(): TokenDecoder {
    const ids: number[] = [];
    let emitted = 0;
    const take = (final: boolean) => {
      const text = this.decode(ids);
      if (!final && text.endsWith("\uFFFD")) return "";
      const out = text.slice(emitted);
      emitted = text.length;
      return out;
    };
    return {
      push: (id) => {
        ids.push(id);
        return take(false);
      },
      flush: () => take(true),
    };
  }
}
