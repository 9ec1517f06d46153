/** `tao tokenize`: text → token ids (or ids → text) with a llama2.c or tokenizer.json tokenizer. */
import { readFileSync } from "node:fs";
import { loadTokenizer } from "../tokenizer/load.ts";
import { stringOption, UsageError, type Command } from "./command.ts";

/** "1 403, 407" → [1, 403, 407]; anything but non-negative integers is a UsageError. */
function parseIds(text: string): number[] {
  const parts = text.split(/[\s,]+/).filter((p) => p.length > 0);
  const bad = parts.find((p) => !/^\d+$/.test(p));
  if (bad !== undefined) throw new UsageError(`--ids: ${JSON.stringify(bad)} is not a token id`);
  return parts.map(Number);
}

export const tokenizeCommand: Command = {
  name: "tokenize",
  summary: "encode text into token ids (or decode ids) with a llama2.c tokenizer.bin or a tokenizer.json",
  positionals: ["<tokenizer>"],
  options: {
    text: { type: "string", short: "t", arg: "<text>", help: "the text to encode" },
    file: { type: "string", short: "f", arg: "<path>", help: "encode this UTF-8 file instead" },
    ids: { type: "string", arg: "<ids>", help: "decode these ids (space or comma separated) instead" },
    "no-bos": { type: "boolean", help: "do not prepend BOS" },
    eos: { type: "boolean", help: "append EOS" },
    json: { type: "boolean", help: "print {ids, pieces} as JSON" },
  },
  details: "<tokenizer>: a llama2.c tokenizer.bin, or a tokenizer.json (or the folder holding it).",
  run(args) {
    const sources = ["text", "file", "ids"].filter((k) => args.values[k] !== undefined);
    if (sources.length !== 1) throw new UsageError("give exactly one of --text, --file, --ids");
    const tok = loadTokenizer(args.positionals[0]!);
    const idsText = stringOption(args, "ids");
    if (idsText !== undefined) {
      const text = tok.decode(parseIds(idsText));
      process.stdout.write(args.values.json ? JSON.stringify({ text }) + "\n" : text + "\n");
      return 0;
    }
    const file = stringOption(args, "file");
    const text = file !== undefined ? readFileSync(file, "utf8") : stringOption(args, "text", true);
    const ids = tok.encode(text, { bos: !args.values["no-bos"], eos: args.values.eos === true });
    if (args.values.json) {
      process.stdout.write(JSON.stringify({ ids, pieces: ids.map((id) => tok.decode([id])) }) + "\n");
    } else {
      process.stdout.write(ids.join(" ") + "\n");
    }
    return 0;
  },
};
