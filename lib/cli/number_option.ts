/** Numeric options of the `tao` commands (--max-tokens 64, --temperature 0.8, ...). */
import { stringOption, UsageError, type CommandArgs } from "./command.ts";

/**
 * The number option `name` (`fallback` when absent): an integer when `integer`, at least `min`; any
 * other value is a UsageError.
 */
export function numberOption(args: CommandArgs, name: string, fallback: number, opts: { integer?: boolean; min?: number } = {}): number {
  const text = stringOption(args, name);
  if (text === undefined) return fallback;
  const v = Number(text);
  const { integer = false, min = -Infinity } = opts;
  if (text.trim() === "" || !Number.isFinite(v) || (integer && !Number.isSafeInteger(v)) || v < min) {
    throw new UsageError(`--${name} must be ${integer ? "an integer" : "a number"}${min > -Infinity ? ` >= ${min}` : ""}, not ${JSON.stringify(text)}`);
  }
  return v;
}
