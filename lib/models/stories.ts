/** The stories260K model shipped in the package (models/stories260K: see its README). */
import { fileURLToPath } from "node:url";
import { readFileSync } from "node:fs";
import { loadLlama2c } from "./llama2c.ts";
import type { LlamaCheckpoint, LlamaLoadOptions } from "./llama_weights.ts";
import { Llama2cTokenizer } from "../tokenizer/llama2c_tokenizer.ts";

/** Files of the shipped model folder. */
export type StoriesFile = "stories260K.bin" | "tok512.bin" | "tinystories_val.txt";

/** Absolute path of a file of the shipped stories260K folder (default: the checkpoint). */
export function storiesModelPath(file: StoriesFile = "stories260K.bin"): string {
  return fileURLToPath(new URL(`../../models/stories260K/${file}`, import.meta.url));
}

/** The shipped checkpoint (see loadLlama2c for `opts`) with its tokenizer. */
export function loadStories260K(opts: LlamaLoadOptions = {}): { checkpoint: LlamaCheckpoint; tokenizer: Llama2cTokenizer } {
  const checkpoint = loadLlama2c(storiesModelPath(), opts);
  const tokenizer = Llama2cTokenizer.load(storiesModelPath("tok512.bin"), { vocabSize: checkpoint.config.vocabSize });
  return { checkpoint, tokenizer };
}

/** The shipped TinyStories validation text, split into its blank-line-separated pieces (empty ones dropped). */
export function storiesValidationPieces(): string[] {
  return readFileSync(storiesModelPath("tinystories_val.txt"), "utf8").split(/\n\s*\n/).filter((p) => p.trim().length > 0);
}
