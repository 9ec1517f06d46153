/** `--config <scheme>` of tao generate and tao eval: a Llama opened and put in a named scheme. */
import type { TextTokenizer } from "../tokenizer/tokenizer.ts";
import type { Llama } from "../models/llama.ts";
import type { QuantizeReport } from "../quantization/quant_api.ts";
import { stringOption, UsageError, type CommandArgs, type OptionSpec } from "./command.ts";
import { LLAMA_SCHEMES, llamaScheme, type LlamaScheme } from "./schemes.ts";
import { openLlama } from "./llama_model_arg.ts";

/** The options every model command takes. */
export const MODEL_OPTIONS: Record<string, OptionSpec> = {
  config: { type: "string", short: "c", arg: "<scheme>", help: `${LLAMA_SCHEMES.map((s) => s.name).join(" | ")} (default f32)` },
  device: { type: "string", arg: "<device>", help: "cpu (default), cuda, cuda:N" },
  tokenizer: { type: "string", arg: "<path>", help: "tokenizer.bin or tokenizer.json (default: the model's)" },
};

/** --config's scheme (f32 when absent); an unknown name is a UsageError. */
export function schemeOption(args: CommandArgs): LlamaScheme {
  const name = stringOption(args, "config") ?? "f32";
  const scheme = llamaScheme(name);
  if (scheme === undefined) throw new UsageError(`unknown --config ${JSON.stringify(name)} (one of ${LLAMA_SCHEMES.map((s) => s.name).join(", ")})`);
  return scheme;
}

/** --device, with "cuda" meaning cuda:0. */
export function deviceOption(args: CommandArgs): string {
  const d = stringOption(args, "device") ?? "cpu";
  return d === "cuda" ? "cuda:0" : d;
}

/**
 * `<model>` opened in `scheme` on the command's device; `calibration(tokenizer)` gives the token
 * sequences a calibrating scheme runs (asked only for those).
 */
export function openInScheme(
  args: CommandArgs, spec: string, scheme: LlamaScheme, calibration: (tokenizer: TextTokenizer, seqLen: number) => number[][],
): { model: Llama; tokenizer: TextTokenizer; report: QuantizeReport | null } {
  const { model, tokenizer } = openLlama(spec, { dtype: scheme.dtype, device: deviceOption(args), tokenizer: stringOption(args, "tokenizer") });
  try {
    const report = scheme.apply(model, scheme.calibrates ? calibration(tokenizer, model.config.seqLen) : []);
    return { model, tokenizer, report };
  } catch (e) {
    model.dispose();
    throw e;
  }
}

/** "31 of 36 Linear layers quantized (5 left as they are: K = 172 is not a multiple of groupSize 64)". */
export function reportLine(scheme: LlamaScheme, report: QuantizeReport | null): string {
  if (report === null) return `${scheme.name}: ${scheme.summary}`;
  const total = report.quantized.length + report.skipped.length;
  const reasons = [...new Set(report.skipped.map((s) => s.reason))];
  const left = report.skipped.length === 0 ? "" : ` (${report.skipped.length} left as they are: ${reasons.join("; ")})`;
  return `${scheme.name}: ${report.quantized.length} of ${total} Linear layers converted${left}`;
}
