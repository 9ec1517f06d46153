/** The `tao` CLI's command shape, its argument parsing (node:util parseArgs) and help text. */
import { parseArgs } from "node:util";

/** The weight dtypes `--dtype` options take. */
export const WEIGHT_DTYPES = ["f32", "bf16", "f16"] as const;

/** A bad command line: reported as one line on stderr with exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** An option of a command (node:util parseArgs' option config, plus its help line). */
export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  /** Placeholder shown in help for string options ("<file>"). */
  arg?: string;
  help: string;
}

/** Parsed arguments: option values by name, positionals in order. */
export interface CommandArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** One subcommand of `tao`. */
export interface Command {
  name: string;
  /** One line for `tao --help`. */
  summary: string;
  /** Positional arguments as shown in the usage line ("<in.safetensors>"), each required. */
  positionals: string[];
  options: Record<string, OptionSpec>;
  /** More lines of help after the options. */
  details?: string;
  /** Runs the command; returns the exit code. Throw UsageError for a bad argument value. */
  run(args: CommandArgs): number | Promise<number>;
}

/** `tao <name> --help`. */
export function commandHelp(cmd: Command): string {
  const flags = Object.entries(cmd.options).map(([name, o]) => {
    const left = `${o.short ? `-${o.short}, ` : "    "}--${name}${o.type === "string" ? ` ${o.arg ?? "<value>"}` : ""}`;
    return `  ${left.padEnd(28)} ${o.help}`;
  });
  return [
    `usage: tao ${cmd.name} ${[...cmd.positionals, "[options]"].join(" ")}`,
    "",
    cmd.summary,
    "",
    "options:",
    ...flags,
    `  ${"-h, --help".padEnd(28)} show this help`,
    ...(cmd.details ? ["", cmd.details] : []),
  ].join("\n") + "\n";
}

/** Parses `argv` for `cmd` (strict: unknown options, missing values and wrong positional counts are UsageErrors). */
export function parseCommandArgs(cmd: Command, argv: string[]): CommandArgs & { help: boolean } {
  const options = Object.fromEntries(
    Object.entries(cmd.options).map(([name, o]) => [name, { type: o.type, ...(o.short ? { short: o.short } : {}) }]),
  );
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: "boolean", short: "h" } }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError((e as Error).message.split(/\n|\. /)[0]!); // node's text goes on about '--' after the first sentence
  }
  const { help, ...values } = parsed.values as Record<string, string | boolean | undefined>;
  if (help === true) return { values, positionals: parsed.positionals, help: true };
  const n = cmd.positionals.length;
  if (parsed.positionals.length !== n) {
    throw new UsageError(`expects ${n === 0 ? "no arguments" : cmd.positionals.join(" ")}, got ${parsed.positionals.length === 0 ? "none" : parsed.positionals.map((p) => JSON.stringify(p)).join(" ")}`);
  }
  return { values, positionals: parsed.positionals, help: false };
}

/** The value of string option `name`; a missing required one is a UsageError. */
export function stringOption(args: CommandArgs, name: string, required: true): string;
export function stringOption(args: CommandArgs, name: string, required?: false): string | undefined;
export function stringOption(args: CommandArgs, name: string, required = false): string | undefined {
  const v = args.values[name];
  if (typeof v === "string") return v;
  if (required) throw new UsageError(`--${name} is required`);
  return undefined;
}

/** The value of string option `name` if it is one of `choices` (else a UsageError); undefined when absent. */
export function choiceOption<T extends string>(args: CommandArgs, name: string, choices: readonly T[]): T | undefined {
  const v = stringOption(args, name);
  if (v !== undefined && !(choices as readonly string[]).includes(v)) {
    throw new UsageError(`--${name} must be one of ${choices.join(", ")}, not ${JSON.stringify(v)}`);
  }
  return v as T | undefined;
}
