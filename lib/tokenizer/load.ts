/** Opens a tokenizer file of either format by its path. */
import { existsSync, statSync } from "node:fs";
import { HfTokenizer } from "./hf_tokenizer.ts";
import { Llama2cTokenizer } from "./llama2c_tokenizer.ts";
import type { TextTokenizer } from "./tokenizer.ts";

/**
 * A tokenizer from `path`: a folder or a .json file is Hugging Face's tokenizer.json (HfTokenizer),
 * anything else llama2.c's tokenizer.bin (Llama2cTokenizer, with `vocabSize` when given).
 */
export function loadTokenizer(path: string, opts: { vocabSize?: number } = {}): TextTokenizer {
  const isDir = existsSync(path) && statSync(path).isDirectory();
  return isDir || path.endsWith(".json") ? HfTokenizer.load(path) : Llama2cTokenizer.load(path, opts);
}
