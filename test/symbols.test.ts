// The symbol table and the constants must match include/tao.h exactly.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { constants, native, symbols } from "../lib/index.ts";
import { AFFINE_ARGS_WORDS } from "../lib/quantization/affine_args.ts";

const header = readFileSync(new URL("../include/tao.h", import.meta.url), "utf8");

/** Neutral type of a C parameter or return type. */
function neutral(cType: string, isResult: boolean): string {
  const t = cType.replace(/\s+/g, " ").trim();
  if (isResult && /^const char ?\*$/.test(t)) return "cstring";
  if (t.includes("*")) return "ptr";
  // int64_t sizes (never negative) pass as u64: same register, and both FFIs already know u64.
  const scalar: Record<string, string> = { int32_t: "i32", tao_status: "i32", uint64_t: "u64", int64_t: "u64", double: "f64" };
  if (!(t in scalar)) throw new Error(`no neutral type for C type "${t}"`);
  return scalar[t]!;
}

/** Every TAO_API declaration of the header as { name: { args, result } }. */
function parseHeader(text: string): Record<string, { args: string[]; result: string }> {
  const code = text
    .replace(/\/\*[\s\S]*?\*\//g, " ")
    .replace(/\/\/.*$/gm, " ")
    .replace(/^\s*#.*$/gm, " ");
  const out: Record<string, { args: string[]; result: string }> = {};
  for (const m of code.matchAll(/TAO_API\s+([^;()]+?)\s*\b(tao_\w+)\s*\(([^)]*)\)\s*;/g)) {
    const params = m[3]!.trim() === "void" ? [] : m[3]!.split(",");
    out[m[2]!] = {
      result: neutral(m[1]!, true),
      args: params.map((p) => neutral(p.trim().replace(/\b\w+$/, ""), false)),
    };
  }
  return out;
}

describe("symbol table vs include/tao.h", () => {
  const declared = parseHeader(header);

  test("the header parser finds the declarations", () => {
    expect(Object.keys(declared).length).toBeGreaterThan(30);
    expect(declared.tao_cast).toEqual({ args: ["ptr", "ptr", "i32", "ptr", "i32", "u64"], result: "i32" });
  });

  test("same function names", () => {
    expect(Object.keys(symbols).sort()).toEqual(Object.keys(declared).sort());
  });

  test.each(Object.keys(declared))("%s: same argument count and types", (name) => {
    const s = symbols[name as keyof typeof symbols];
    expect<unknown>({ args: [...s.args], result: s.result }).toEqual(declared[name]!);
  });

  test("every bound function is callable", () => {
    for (const name of Object.keys(symbols)) expect(typeof native[name as keyof typeof native]).toBe("function");
  });
});

describe("constants vs include/tao.h", () => {
  const defines = new Map<string, number>();
  for (const m of header.matchAll(/^#define\s+(TAO_\w+)\s+\(?(-?\d+)\)?/gm)) defines.set(m[1]!, Number(m[2]));

  test("the header has the expected defines", () => {
    expect(defines.get("TAO_ERR_INTERNAL")).toBe(-8);
    expect(defines.size).toBeGreaterThan(30);
  });

  test("same names", () => {
    expect(Object.keys(constants).sort()).toEqual([...defines.keys()].sort());
  });

  test.each([...defines.keys()])("%s has the header's value", (name) => {
    expect(constants[name as keyof typeof constants]).toBe(defines.get(name)!);
  });
});

test("tao_affine_args is the 32 eight-byte words the TS packer writes", () => {
  const size = new BigInt64Array(1);
  expect(native.tao_affine_args_size(size)).toBe(0);
  expect(AFFINE_ARGS_WORDS).toBe(32);
  expect(size[0]).toBe(BigInt(AFFINE_ARGS_WORDS * 8));
});
