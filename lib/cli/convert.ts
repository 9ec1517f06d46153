/** `tao convert`: a llama2.c checkpoint (and tokenizer) → a Hugging Face-style Llama folder. */
import { convertLlama2cToHf } from "../models/hf_llama.ts";
import { Llama2cTokenizer } from "../tokenizer/llama2c_tokenizer.ts";
import { saveLlama2cTokenizerAsHf } from "../tokenizer/llama2c_to_hf.ts";
import { choiceOption, stringOption, WEIGHT_DTYPES, type Command } from "./command.ts";

export const convertCommand: Command = {
  name: "convert",
  summary: "convert a llama2.c checkpoint (.bin) into a Hugging Face-style folder (config.json, model.safetensors)",
  positionals: ["<model.bin>"],
  options: {
    output: { type: "string", short: "o", arg: "<dir>", help: "output folder (required)" },
    tokenizer: { type: "string", arg: "<tokenizer.bin>", help: "also write tokenizer.json + tokenizer_config.json from this llama2.c tokenizer" },
    dtype: { type: "string", arg: "<dtype>", help: `weight dtype: ${WEIGHT_DTYPES.join(", ")} (default f32)` },
  },
  details: "q_proj/k_proj rows are permuted from llama2.c's interleaved RoPE order to transformers' rotate_half order.",
  run(args) {
    const out = stringOption(args, "output", true);
    const dtype = choiceOption(args, "dtype", WEIGHT_DTYPES) ?? "f32";
    const config = convertLlama2cToHf(args.positionals[0]!, out, { dtype });
    const tokPath = stringOption(args, "tokenizer");
    if (tokPath !== undefined) saveLlama2cTokenizerAsHf(Llama2cTokenizer.load(tokPath, { vocabSize: config.vocabSize }), out);
    process.stdout.write(`wrote ${out} (${config.nLayers} layers, dim ${config.dim}, vocab ${config.vocabSize})\n`);
    return 0;
  },
};
