/** `tao eval ppl`: perplexity of a Llama (in a named scheme) on a text, with the protocol of lib/models/perplexity.ts. */
import { readFileSync } from "node:fs";
import { compareModels, protocolTokens, type PerplexityProtocol } from "../models/perplexity.ts";
import { stringOption, UsageError, type Command } from "./command.ts";
import { numberOption } from "./number_option.ts";
import { MODEL_ARG_HELP } from "./llama_model_arg.ts";
import { MODEL_OPTIONS, openInScheme, reportLine, schemeOption } from "./scheme_option.ts";
import { CALIBRATION_PIECES, LLAMA_SCHEMES, llamaScheme } from "./schemes.ts";

export const evalCommand: Command = {
  name: "eval",
  summary: "perplexity of a Llama model on a text (tao eval ppl <model> --text <file>)",
  positionals: ["ppl", "<model>"],
  options: {
    text: { type: "string", short: "t", arg: "<file>", help: "UTF-8 text to score (required)" },
    ...MODEL_OPTIONS,
    pieces: { type: "string", arg: "<n>", help: "score the first n blank-line-separated pieces (default 200)" },
    "max-tokens": { type: "string", arg: "<t>", help: "cut each piece to t tokens, BOS included (default 256)" },
  },
  details: [
    MODEL_ARG_HELP,
    "Protocol: the text is split on blank lines; each of the first n pieces is encoded with BOS, cut to t",
    "tokens and scored teacher-forced; ppl = exp(mean NLL over every predicted token), log-softmax in float64.",
    "With a --config other than f32, the f32 model is scored too, with top-1 agreement and logit SQNR against it.",
    `${LLAMA_SCHEMES.filter((s) => s.calibrates).map((s) => s.name).join(", ")} calibrate on the ${CALIBRATION_PIECES} pieces after the scored ones.`,
  ].join("\n"),
  run(args) {
    const [what, spec] = args.positionals as [string, string];
    if (what !== "ppl") throw new UsageError(`the only evaluation is "ppl", not ${JSON.stringify(what)}`);
    const text = readFileSync(stringOption(args, "text", true), "utf8");
    const protocol: PerplexityProtocol = {
      pieces: numberOption(args, "pieces", 200, { integer: true, min: 1 }),
      maxTokens: numberOption(args, "max-tokens", 256, { integer: true, min: 2 }),
    };
    const scheme = schemeOption(args);
    const calibration = { pieces: CALIBRATION_PIECES, maxTokens: protocol.maxTokens };
    const opened = openInScheme(args, spec, scheme, (tok, seqLen) => protocolTokens(tok, text, calibration, seqLen, "tao eval", protocol.pieces));
    using model = opened.model;
    const reference = scheme.name === "f32" ? null : openInScheme(args, spec, llamaScheme("f32")!, () => []).model;
    using _reference = reference;
    const r = compareModels(reference ?? model, reference ? [model] : [], opened.tokenizer, text, protocol);
    const mine = r.candidates[0] ?? r.reference;
    process.stderr.write(reportLine(scheme, opened.report) + "\n");
    const lines = [`ppl ${mine.ppl.toFixed(4)}  (mean NLL ${mine.meanNll.toFixed(5)} over ${mine.predictions} predicted tokens, ${mine.pieces} pieces)`];
    const cand = r.candidates[0];
    if (cand) {
      lines.push(`f32 ppl ${r.reference.ppl.toFixed(4)}  Δppl ${(cand.ppl - r.reference.ppl).toFixed(4)}  top-1 agreement ${(100 * cand.top1Agreement).toFixed(2)}%  logit SQNR ${cand.logitSqnr.toFixed(1)} dB`);
    }
    process.stdout.write(lines.join("\n") + "\n");
    return 0;
  },
};
