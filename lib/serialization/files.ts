/** Whole-file reads whose failures are TaoErrors naming the path (for the model and tokenizer loaders). */
import { readFileSync } from "node:fs";
import { invalid } from "../errors.ts";

/** The bytes of the file at `path`. */
export function readFileBytes(path: string, op: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw invalid(op, `${path}: cannot read: ${(e as Error).message}`);
  }
}

/** The JSON object in the file at `path` (an unreadable file, bad JSON or a non-object is a TaoError). */
export function readJsonObject(path: string, op: string): Record<string, unknown> {
  const bytes = readFileBytes(path, op);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw invalid(op, `${path}: not valid JSON: ${(e as Error).message}`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw invalid(op, `${path}: not a JSON object`);
  return json as Record<string, unknown>;
}
