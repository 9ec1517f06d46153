/** `tao generate`: a Llama (in a named scheme) continues a prompt, streamed to stdout. */
import { readFileSync } from "node:fs";
import { generate } from "../models/generate.ts";
import { storiesModelPath } from "../models/stories.ts";
import { protocolTokens } from "../models/perplexity.ts";
import { stringOption, type Command } from "./command.ts";
import { numberOption } from "./number_option.ts";
import { MODEL_ARG_HELP } from "./llama_model_arg.ts";
import { MODEL_OPTIONS, openInScheme, reportLine, schemeOption } from "./scheme_option.ts";
import { CALIBRATION_PIECES } from "./schemes.ts";

export const generateCommand: Command = {
  name: "generate",
  summary: "generate text with a Llama model, optionally quantized (--config int4wo-32)",
  positionals: ["<model>"],
  options: {
    prompt: { type: "string", short: "p", arg: "<text>", help: "the prompt (required)" },
    ...MODEL_OPTIONS,
    "max-tokens": { type: "string", short: "n", arg: "<n>", help: "tokens to generate at most (default 128)" },
    temperature: { type: "string", arg: "<t>", help: "sampling temperature; 0 = greedy (default 0)" },
    "top-k": { type: "string", arg: "<k>", help: "sample among the k most likely tokens; 0 = all (default 0)" },
    seed: { type: "string", arg: "<s>", help: "sampling seed (default 0)" },
  },
  details: [
    MODEL_ARG_HELP,
    `smoothquant and wanda24 calibrate on the first ${CALIBRATION_PIECES} pieces of the shipped TinyStories text.`,
  ].join("\n"),
  run(args) {
    const prompt = stringOption(args, "prompt", true);
    const opts = {
      maxTokens: numberOption(args, "max-tokens", 128, { integer: true, min: 1 }),
      temperature: numberOption(args, "temperature", 0, { min: 0 }),
      topK: numberOption(args, "top-k", 0, { integer: true, min: 0 }),
      seed: numberOption(args, "seed", 0, { integer: true, min: 0 }),
    };
    const scheme = schemeOption(args);
    const shippedText = () => readFileSync(storiesModelPath("tinystories_val.txt"), "utf8");
    const opened = openInScheme(args, args.positionals[0]!, scheme, (tok, seqLen) =>
      protocolTokens(tok, shippedText(), { pieces: CALIBRATION_PIECES }, seqLen, "tao generate"));
    using model = opened.model;
    const { tokenizer, report } = opened;
    process.stderr.write(reportLine(scheme, report) + "\n");
    process.stdout.write(prompt);
    for (const { text } of generate(model, tokenizer, prompt, opts)) process.stdout.write(text);
    process.stdout.write("\n");
    return 0;
  },
};
