/** What the Llama demo, generation and perplexity need from a tokenizer, whatever its file format. */

/** Options of encode(). */
export interface EncodeOptions {
  /** Prepend the BOS token (default true). */
  bos?: boolean;
  /** Append the EOS token (default false). */
  eos?: boolean;
}

/** Turns a stream of token ids into text, emitting only complete UTF-8 characters. */
export interface TokenDecoder {
  /** The text that token `id` completes (may be "" while a multi-byte character is still open). */
  push(id: number): string;
  /** What is left at the end of the stream (an unfinished character becomes U+FFFD). */
  flush(): string;
}

/** A text tokenizer: ids ↔ strings. */
export interface TextTokenizer {
  readonly vocabSize: number;
  /** Beginning-of-sequence id, or null when the tokenizer has none. */
  readonly bosId: number | null;
  /** End-of-sequence id, or null when the tokenizer has none. */
  readonly eosId: number | null;
  /** Token ids of `text`. */
  encode(text: string, opts?: EncodeOptions): number[];
  /** The text of `ids` (special tokens such as BOS/EOS produce none). */
  decode(ids: readonly number[]): string;
  /** A fresh streaming decoder: pushing ids one by one gives decode(ids) piece by piece. */
  decoder(): TokenDecoder;
}
