/** `tao autoquant <model>`: autoquant's report for a Llama over one prefill plus decode steps. */
import { fromArray } from "../creation.ts";
import { autoquant, finalizeAutoquant } from "../quantization/autoquant/autoquant.ts";
import { AUTOQUANT_CLASS_LISTS } from "../quantization/autoquant/candidates.ts";
import { formatAutoquantReport } from "../quantization/autoquant/report.ts";
import { choiceOption, stringOption, WEIGHT_DTYPES, type Command } from "./command.ts";
import { MODEL_ARG_HELP, openLlama } from "./llama_model_arg.ts";
import { numberOption } from "./number_option.ts";
import { deviceOption, MODEL_OPTIONS } from "./scheme_option.ts";

const CLASSES = Object.keys(AUTOQUANT_CLASS_LISTS);

export const autoquantCommand: Command = {
  name: "autoquant",
  summary: "measure the fastest quantization per Linear of a Llama (tao autoquant <model>)",
  positionals: ["<model>"],
  options: {
    classes: { type: "string", arg: "<list>", help: `candidates: ${CLASSES.join(" | ")} (default default)` },
    cache: { type: "string", arg: "<file>", help: "JSON timing cache, read and written (a second run measures nothing)" },
    "min-sqnr": { type: "string", arg: "<dB>", help: "drop candidates whose layer output SQNR is under this" },
    dtype: { type: "string", arg: "<dtype>", help: `${WEIGHT_DTYPES.join(" | ")} (default bf16)` },
    tokens: { type: "string", arg: "<t>", help: "prefill length (default 32)" },
    steps: { type: "string", arg: "<n>", help: "decode steps after the prefill (default 16)" },
    device: MODEL_OPTIONS.device!,
    tokenizer: MODEL_OPTIONS.tokenizer!,
  },
  details: [
    MODEL_ARG_HELP,
    "The model runs one prefill of t tokens and n decode steps with every Linear recording its shapes; then each",
    "candidate is timed on those shapes (L2 flushed on CUDA, medians) and each layer gets the fastest above",
    "--min-sqnr. Prints the report: per layer, the shapes seen, every candidate's time and SQNR, the choice.",
  ].join("\n"),
  run(args) {
    const tokens = numberOption(args, "tokens", 32, { integer: true, min: 1 });
    const steps = numberOption(args, "steps", 16, { integer: true, min: 0 });
    const minSqnr = stringOption(args, "min-sqnr") === undefined ? null : numberOption(args, "min-sqnr", 0);
    const classes = choiceOption(args, "classes", CLASSES) ?? "default";
    const dtype = choiceOption(args, "dtype", WEIGHT_DTYPES) ?? "bf16";
    const { model } = openLlama(args.positionals[0]!, { dtype, device: deviceOption(args), tokenizer: stringOption(args, "tokenizer") });
    using _model = model;
    using cache = model.newCache(1, Math.min(tokens + steps, model.config.seqLen));
    autoquant(model, { manual: true, classList: AUTOQUANT_CLASS_LISTS[classes], minSqnr, cachePath: stringOption(args, "cache") });
    const vocab = model.config.vocabSize;
    const ids = (n: number, from: number) => fromArray(Int32Array.from({ length: n }, (_, i) => (from + i) % vocab), { shape: [1, n] }).to(model.device);
    for (const [n, from] of [[tokens, 1], ...Array.from({ length: steps }, (_, s) => [1, tokens + 1 + s])] as [number, number][]) {
      using x = ids(n, from);
      model.forward(x, cache).dispose();
    }
    process.stdout.write(formatAutoquantReport(finalizeAutoquant(model)) + "\n");
    return 0;
  },
};
