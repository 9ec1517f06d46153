/** The `<model>` argument of tao generate and tao eval: the shipped model, a llama2.c file or an HF folder. */
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import type { DType } from "../dtypes.ts";
import { Llama } from "../models/llama.ts";
import { loadLlama2c } from "../models/llama2c.ts";
import { loadHfLlama } from "../models/hf_llama.ts";
import { storiesModelPath } from "../models/stories.ts";
import type { LlamaCheckpoint } from "../models/llama_weights.ts";
import { loadTokenizer } from "../tokenizer/load.ts";
import type { TextTokenizer } from "../tokenizer/tokenizer.ts";
import { UsageError } from "./command.ts";

/** The name that means the model shipped in models/stories260K. */
export const SHIPPED_MODEL = "stories260K";

/** Help text for `<model>` and `--tokenizer`. */
export const MODEL_ARG_HELP = [
  `<model>: "${SHIPPED_MODEL}" (the model shipped with tao), a llama2.c checkpoint (.bin; its tokenizer is`,
  "--tokenizer, else tokenizer.bin beside it), or a Hugging Face Llama folder (config.json, *.safetensors,",
  "tokenizer.json).",
].join("\n");

/** Where `<model>`'s weights and tokenizer are, and which loader reads them. */
function resolve(spec: string, tokenizer: string | undefined): { load: (o: { dtype: DType; device: string }) => LlamaCheckpoint; tokenizer: string } {
  if (spec === SHIPPED_MODEL) {
    return { load: (o) => loadLlama2c(storiesModelPath(), o), tokenizer: tokenizer ?? storiesModelPath("tok512.bin") };
  }
  if (!existsSync(spec)) throw new UsageError(`<model> ${JSON.stringify(spec)} is neither "${SHIPPED_MODEL}" nor an existing file or folder`);
  if (statSync(spec).isDirectory()) return { load: (o) => loadHfLlama(spec, o), tokenizer: tokenizer ?? spec };
  const beside = join(dirname(spec), "tokenizer.bin");
  if (tokenizer === undefined && !existsSync(beside)) throw new UsageError(`no tokenizer.bin beside ${spec}: give --tokenizer`);
  return { load: (o) => loadLlama2c(spec, o), tokenizer: tokenizer ?? beside };
}

/** The Llama of `<model>` in `dtype` on `device`, with its tokenizer (`tokenizer` overrides the default one). */
export function openLlama(spec: string, opts: { dtype: DType; device: string; tokenizer?: string }): { model: Llama; tokenizer: TextTokenizer } {
  const where = resolve(spec, opts.tokenizer);
  using checkpoint = where.load({ dtype: opts.dtype, device: opts.device });
  const tokenizer = loadTokenizer(where.tokenizer, { vocabSize: checkpoint.config.vocabSize });
  return { model: Llama.fromCheckpoint(checkpoint), tokenizer };
}
