/** `tao`: dispatches to a subcommand; usage errors exit 2 with one line on stderr, failures exit 1. */
import { commandHelp, parseCommandArgs, UsageError, type Command } from "./command.ts";
import { infoCommand } from "./info.ts";
import { quantizeCommand } from "./quantize.ts";
import { tokenizeCommand } from "./tokenize.ts";
import { convertCommand } from "./convert.ts";
import { generateCommand } from "./generate.ts";
import { evalCommand } from "./eval.ts";
import { benchCommand } from "./bench.ts";
import { autoquantCommand } from "./autoquant.ts";

/** The commands, in help order. */
export const COMMANDS: Command[] = [infoCommand, quantizeCommand, tokenizeCommand, convertCommand, generateCommand, evalCommand, benchCommand, autoquantCommand];

function mainHelp(): string {
  return [
    "usage: tao <command> [options]      (tao <command> --help for its options)",
    "",
    "commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`),
  ].join("\n") + "\n";
}

/** Runs the CLI on `argv` (without the runtime and script); returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "--help" || name === "-h" || name === "help") {
    process.stdout.write(mainHelp());
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (cmd === undefined) {
    const what = name === undefined ? "no command given" : `unknown command ${JSON.stringify(name)}`;
    process.stderr.write(`tao: ${what} (commands: ${COMMANDS.map((c) => c.name).join(", ")}; tao --help)\n`);
    return 2;
  }
  try {
    const args = parseCommandArgs(cmd, rest);
    if (args.help) {
      process.stdout.write(commandHelp(cmd));
      return 0;
    }
    return await cmd.run(args);
  } catch (e) {
    const usage = e instanceof UsageError;
    const message = e instanceof Error ? e.message : String(e);
    process.stderr.write(`tao ${cmd.name}: ${message.split("\n")[0]}${usage ? ` (tao ${cmd.name} --help)` : ""}\n`);
    return usage ? 2 : 1;
  }
}
