// safetensors: round trips, golden bytes built by hand, alignment, every validation rule, fuzzing.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DTYPES, dtypeSize, fromArray, hostArrayType, parseSafetensors, readSafetensors, SAFETENSORS_MAX_HEADER_BYTES,
  serializeSafetensors, TaoError, Tensor, writeSafetensors, zeros, type DType, type ErrorCodeName,
} from "../lib/index.ts";
import { devices, rng } from "./helpers.ts";

const enc = new TextEncoder();

/** A tensor of `dtype` and `shape` holding random raw bytes (any bit pattern, NaNs included). */
function randomTensor(dtype: DType, shape: number[], next: () => number): Tensor {
  const numel = shape.reduce((a, b) => a * b, 1);
  const data = new (hostArrayType(dtype))(numel);
  const raw = new Uint8Array(data.buffer);
  for (let i = 0; i < raw.length; i++) raw[i] = Math.floor(next() * 256);
  return fromArray(data, { dtype, shape });
}

/** The raw bytes of a host tensor. */
function rawBytes(t: Tensor): Uint8Array {
  const d = t.hostData();
  return new Uint8Array(d.buffer, d.byteOffset, t.nbytes);
}

/** A file built by hand, without the writer: u64 LE `headerLength` (default: the header's), header, data. */
function fileOf(header: string | Uint8Array, data: ArrayLike<number> = [], headerLength?: number | bigint): Uint8Array {
  const h = typeof header === "string" ? enc.encode(header) : header;
  const out = new Uint8Array(8 + h.length + data.length);
  let n = BigInt(headerLength ?? h.length);
  for (let i = 0; i < 8; i++, n >>= 8n) out[i] = Number(n & 0xffn);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

/** A file from a header object (JSON.stringify'd) and `dataLength` zero bytes of data. */
const fileOfJson = (header: unknown, dataLength = 0) => fileOf(JSON.stringify(header), new Uint8Array(dataLength));

function expectTaoError(fn: () => unknown, code: ErrorCodeName, pattern?: RegExp): TaoError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  if (!(err instanceof TaoError)) throw new Error(`expected a TaoError ${code}, got ${err === undefined ? "no error" : String(err)}`);
  expect(err.codeName).toBe(code);
  if (pattern) expect(err.message).toMatch(pattern);
  return err;
}

const SHAPES: number[][] = [[], [0], [1], [7], [2, 3], [3, 0, 4], [2, 3, 5], [1, 1, 2, 1, 3]];

describe("round trip", () => {
  test("every dtype and shape: values, metadata, zero-copy, byte-exact re-serialization", () => {
    const next = rng(1234);
    const tensors: Record<string, Tensor> = {};
    for (const dtype of DTYPES) {
      SHAPES.forEach((shape, i) => (tensors[`${dtype}.${i}`] = randomTensor(dtype, shape, next)));
    }
    const metadata = { format: "pt", "ünïcode ✓": "value with \"quotes\", \\ and \n newline", "": "", __proto__x: "p" };
    const bytes = serializeSafetensors(tensors, metadata);
    const parsed = parseSafetensors(bytes);
    expect(parsed.metadata).toEqual(metadata);
    expect([...parsed.tensors.keys()].sort()).toEqual(Object.keys(tensors).sort());
    for (const [name, t] of Object.entries(tensors)) {
      const p = parsed.tensors.get(name)!;
      expect(p.dtype).toBe(t.dtype);
      expect(p.shape).toEqual(t.shape);
      expect(p.device).toBe("cpu");
      expect(rawBytes(p)).toEqual(rawBytes(t));
      // The writer aligns every tensor, so every parsed tensor is a view of `bytes`.
      expect(p.hostData().buffer).toBe(bytes.buffer);
    }
    expect(serializeSafetensors(parsed.tensors, parsed.metadata)).toEqual(bytes);
    // A Map input gives the same bytes as a record, whatever its order.
    expect(serializeSafetensors(new Map(Object.entries(tensors).reverse()), metadata)).toEqual(bytes);
  });

  test("no tensors, no metadata; empty metadata is left out", () => {
    const bytes = serializeSafetensors({});
    expect(parseSafetensors(bytes)).toEqual({ metadata: {}, tensors: new Map() });
    expect(serializeSafetensors({}, {})).toEqual(bytes);
  });

  test("names: integer-like, unicode beyond the BMP, __proto__", () => {
    const names = ["10", "2", "a", "é", "\u{1F600}", "\uFFFD", "__proto__", "", " "];
    const tensors = new Map(names.map((n, i) => [n, fromArray(new Int32Array([i]))]));
    const parsed = parseSafetensors(serializeSafetensors(tensors, Object.fromEntries([["__proto__", "kept"]])));
    for (const [n, t] of tensors) expect(parsed.tensors.get(n)!.toArray()).toEqual(t.toArray());
    expect(Object.keys(parsed.metadata)).toEqual(["__proto__"]);
    expect(Object.getOwnPropertyDescriptor(parsed.metadata, "__proto__")?.value).toBe("kept");
    // Layout order is code point order (UTF-8 byte order), as the reference's Rust String order.
    expect([...parsed.tensors.keys()]).toEqual(["", " ", "10", "2", "__proto__", "a", "é", "\uFFFD", "\u{1F600}"]);
  });

  test("fast-check: random tensor sets round-trip byte-exactly", () => {
    const entry = fc.record({
      dtype: fc.constantFrom(...DTYPES),
      shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 }),
      seed: fc.nat(),
    });
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 6 }).filter((s) => s !== "__metadata__"), entry, { maxKeys: 6 }),
        fc.dictionary(fc.string({ maxLength: 5 }), fc.string({ maxLength: 5 }), { maxKeys: 3 }), (spec, metadata) => {
          const tensors = new Map(Object.entries(spec).map(([n, s]) => [n, randomTensor(s.dtype, s.shape, rng(s.seed))]));
          const bytes = serializeSafetensors(tensors, metadata);
          const parsed = parseSafetensors(bytes);
          expect(parsed.metadata).toEqual(metadata);
          for (const [n, t] of tensors) expect(rawBytes(parsed.tensors.get(n)!)).toEqual(rawBytes(t));
          expect(serializeSafetensors(parsed.tensors, parsed.metadata)).toEqual(bytes);
        }),
      { numRuns: 300 },
    );
  });

  test.each(devices)("tensors on %s serialize like their host copies", (device: string) => {
    const next = rng(99);
    const host = Object.fromEntries(DTYPES.map((d) => [d, randomTensor(d, [3, 5], next)]));
    const moved = Object.fromEntries(Object.entries(host).map(([n, t]) => [n, t.to(device)]));
    expect(serializeSafetensors(moved)).toEqual(serializeSafetensors(host));
    for (const t of Object.values(moved)) if (t.device !== "cpu") t.dispose();
  });

  test("files: writeSafetensors streams the bytes serializeSafetensors returns; readSafetensors reads them", () => {
    const dir = mkdtempSync(join(tmpdir(), "tao-safetensors-"));
    try {
      const next = rng(7);
      const tensors = Object.fromEntries(DTYPES.map((d, i) => [`t${i}`, randomTensor(d, [i + 1, 3], next)]));
      const path = join(dir, "model.safetensors");
      writeSafetensors(path, tensors, { framework: "tao" });
      const expected = serializeSafetensors(tensors, { framework: "tao" });
      expect<Uint8Array>(new Uint8Array(readFileSync(path))).toEqual(expected);
      const back = readSafetensors(path);
      expect(back.metadata).toEqual({ framework: "tao" });
      for (const [n, t] of Object.entries(tensors)) {
        const p = back.tensors.get(n)!;
        expect(rawBytes(p)).toEqual(rawBytes(t));
        expect(p.hostData().byteOffset % dtypeSize(p.dtype)).toBe(0);
      }
      expectTaoError(() => readSafetensors(join(dir, "missing.safetensors")), "INVALID_ARGUMENT", /missing\.safetensors/);
      writeFileSync(join(dir, "short.safetensors"), new Uint8Array(3));
      expectTaoError(() => readSafetensors(join(dir, "short.safetensors")), "INVALID_ARGUMENT",
        /^readSafetensors: .*short\.safetensors: file of 3 bytes/);
      expectTaoError(() => writeSafetensors(join(dir, "no", "such", "dir.safetensors"), tensors), "INVALID_ARGUMENT", /cannot write/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("golden bytes", () => {
  test("a file built by hand parses to the expected tensors", () => {
    // Data buffer layout (offsets written by hand, deliberately not in name order):
    //   [0, 8)   a  F32 [2]    1.0 = 00 00 80 3f, -2.0 = 00 00 00 c0
    //   [8, 12)  i  I32 []     -2 = fe ff ff ff
    //   [12, 16) b  BF16 [2]   1.5 = 0x3fc0, -0.0 = 0x8000
    //   [16, 18) h  F16 [1,1]  -0.5 = 0xb800
    //   [18, 21) c  I8 [3]     1, -1, 127
    //   [21, 22) d  U8 [1]     255
    //   [22, 24) e  F8_E4M3 [2]  448 = 0x7e, -0.125 = 0xa0 (sign 1, exponent 0100: 2^(4-7))
    //   [24, 25) f  F8_E5M2 [1]  -1.0 = 0xbc
    //   [25, 25) z  F32 [0, 3]
    const header =
      `{"__metadata__":{"format":"pt"},` +
      `"e":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[22,24]},` +
      `"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},` +
      `"b":{"dtype":"BF16","shape":[2],"data_offsets":[12,16]},` +
      `"c":{"dtype":"I8","shape":[3],"data_offsets":[18,21]},` +
      `"d":{"dtype":"U8","shape":[1],"data_offsets":[21,22]},` +
      `"f":{"dtype":"F8_E5M2","shape":[1],"data_offsets":[24,25]},` +
      `"h":{"dtype":"F16","shape":[1,1],"data_offsets":[16,18]},` +
      `"i":{"dtype":"I32","shape":[],"data_offsets":[8,12]},` +
      `"z":{"dtype":"F32","shape":[0,3],"data_offsets":[25,25]}}   `;
    const data = [
      0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0,
      0xfe, 0xff, 0xff, 0xff,
      0xc0, 0x3f, 0x00, 0x80,
      0x00, 0xb8,
      0x01, 0xff, 0x7f,
      0xff,
      0x7e, 0xa0,
      0xbc,
    ];
    const { metadata, tensors } = parseSafetensors(fileOf(header, data));
    expect(metadata).toEqual({ format: "pt" });
    expect([...tensors.keys()]).toEqual(["a", "i", "b", "h", "c", "d", "e", "f", "z"]); // file order
    const want: Record<string, [DType, number[], number[]]> = {
      a: ["f32", [2], [1, -2]],
      i: ["i32", [], [-2]],
      b: ["bf16", [2], [1.5, -0]],
      h: ["f16", [1, 1], [-0.5]],
      c: ["i8", [3], [1, -1, 127]],
      d: ["u8", [1], [255]],
      e: ["f8e4m3fn", [2], [448, -0.125]],
      f: ["f8e5m2", [1], [-1]],
      z: ["f32", [0, 3], []],
    };
    for (const [name, [dtype, shape, values]] of Object.entries(want)) {
      const t = tensors.get(name)!;
      expect(t.dtype).toBe(dtype);
      expect(t.shape).toEqual(shape);
      expect([...t.toArray()]).toEqual(values);
    }
  });

  test("the writer's bytes for fixed inputs equal bytes derived by hand", () => {
    // One F32 tensor: a 64-byte header needs no padding. 0..5 as f32 LE bytes.
    const attn = fromArray(new Float32Array([0, 1, 2, 3, 4, 5]), { shape: [1, 2, 3] });
    const json1 = `{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}`;
    expect(json1.length).toBe(64);
    expect([...serializeSafetensors({ "attn.0": attn })]).toEqual([
      64, 0, 0, 0, 0, 0, 0, 0, ...enc.encode(json1),
      0, 0, 0, 0, 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40, 0, 0, 0x40, 0x40, 0, 0, 0x80, 0x40, 0, 0, 0xa0, 0x40,
    ]);

    // Mixed dtypes: F32 first, then BF16, then the U8 tensors by name; metadata first with sorted
    // keys; the 246-byte JSON gets 2 spaces (N = 248 = 0xf8).
    const json2 =
      `{"__metadata__":{"a":"1","b":"2"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},` +
      `"h":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]},"a":{"dtype":"U8","shape":[1],"data_offsets":[8,9]},` +
      `"z":{"dtype":"U8","shape":[3],"data_offsets":[9,12]}}`;
    expect(json2.length).toBe(246);
    const out = serializeSafetensors(
      {
        z: fromArray(new Uint8Array([1, 2, 3]), { dtype: "u8" }),
        a: fromArray(new Uint8Array([9]), { dtype: "u8" }),
        w: fromArray(new Float32Array([1])),
        h: fromArray(new Uint16Array([0x3f80, 0xc000]), { dtype: "bf16" }),
      },
      { b: "2", a: "1" },
    );
    expect([...out]).toEqual([
      0xf8, 0, 0, 0, 0, 0, 0, 0, ...enc.encode(json2), 0x20, 0x20,
      0x00, 0x00, 0x80, 0x3f, 0x80, 0x3f, 0x00, 0xc0, 9, 1, 2, 3,
    ]);

    // Nothing at all: "{}" and 6 spaces; metadata alone: 35 bytes + 5 spaces.
    expect([...serializeSafetensors({})]).toEqual([8, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x7d, 32, 32, 32, 32, 32, 32]);
    expect([...serializeSafetensors(new Map(), { framework: "pt" })]).toEqual([
      40, 0, 0, 0, 0, 0, 0, 0, ...enc.encode(`{"__metadata__":{"framework":"pt"}}`), 32, 32, 32, 32, 32,
    ]);
  });
});

describe("alignment", () => {
  const header = `{"u":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"f":{"dtype":"F32","shape":[2],"data_offsets":[1,9]},` +
    `"g":{"dtype":"I32","shape":[1],"data_offsets":[9,13]}}`;
  const data = [7, 0, 0, 0x80, 0x3f, 0, 0, 0x20, 0x41, 5, 0, 0, 0];

  test("tensors at unaligned offsets are copied and read correctly", () => {
    const bytes = fileOf(header, data);
    const { tensors } = parseSafetensors(bytes);
    expect([...tensors.get("u")!.toArray()]).toEqual([7]);
    expect([...tensors.get("f")!.toArray()]).toEqual([1, 10]);
    expect([...tensors.get("g")!.toArray()]).toEqual([5]);
    const at = 8 + enc.encode(header).length;
    for (const name of ["f", "g"]) {
      const offset = at + (name === "f" ? 1 : 9);
      // Whether it could be a view depends on where it lands; either way the values are right.
      expect(tensors.get(name)!.hostData().buffer === bytes.buffer).toBe(offset % 4 === 0);
    }
  });

  test("a Uint8Array at an odd byteOffset: copies; aligned: views sharing writes; opts.copy: copies", () => {
    const aligned = serializeSafetensors({ f: fromArray(new Float32Array([1, 2, 3])), i: fromArray(new Int32Array([-4])) });
    const shifted = new Uint8Array(aligned.length + 1).subarray(1);
    shifted.set(aligned);
    const a = parseSafetensors(shifted);
    expect([...a.tensors.get("f")!.toArray()]).toEqual([1, 2, 3]);
    expect([...a.tensors.get("i")!.toArray()]).toEqual([-4]);
    expect(a.tensors.get("f")!.hostData().buffer).not.toBe(shifted.buffer);

    const b = parseSafetensors(aligned);
    const f = b.tensors.get("f")!;
    expect(f.hostData().buffer).toBe(aligned.buffer);
    (f.hostData() as Float32Array)[0] = 42;
    expect(parseSafetensors(aligned).tensors.get("f")!.toArray()[0]).toBe(42);

    const c = parseSafetensors(aligned, { copy: true });
    for (const t of c.tensors.values()) expect(t.hostData().buffer).not.toBe(aligned.buffer);
    expect([...c.tensors.get("f")!.toArray()]).toEqual([42, 2, 3]);
  });
});

describe("validation", () => {
  const f32 = (shape: number[], begin: number, end: number) => ({ dtype: "F32", shape, data_offsets: [begin, end] });
  const u8 = (n: number, begin: number) => ({ dtype: "U8", shape: [n], data_offsets: [begin, begin + n] });
  const bad = (header: unknown, dataLength: number, pattern?: RegExp) =>
    expectTaoError(() => parseSafetensors(fileOfJson(header, dataLength)), "INVALID_ARGUMENT", pattern);

  test("valid edge cases pass", () => {
    expect(parseSafetensors(fileOfJson({})).tensors.size).toBe(0);
    expect(parseSafetensors(fileOf("  {}  \n\t")).tensors.size).toBe(0);
    // Zero-size tensors at the same offset, at the start, between and at the end.
    const t = parseSafetensors(fileOfJson({ z0: f32([0], 0, 0), z1: f32([2, 0], 0, 0), a: u8(2, 0), z2: f32([0], 2, 2), b: u8(1, 2), z3: u8(0, 3) }, 3));
    expect([...t.tensors.keys()]).toEqual(["z0", "z1", "a", "z2", "b", "z3"]);
    // A huge dim next to a zero dim is no overflow (0 elements); 1.0 reads as 1 (JSON has one number type).
    expect(parseSafetensors(fileOfJson({ z: f32([2 ** 52, 0, 2 ** 52], 0, 0) })).tensors.get("z")!.numel).toBe(0);
    expect(parseSafetensors(fileOf(`{"a":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1.0]}}`, [1])).tensors.get("a")!.shape).toEqual([1]);
    // Unknown fields of an entry are ignored, as serde does.
    expect(parseSafetensors(fileOfJson({ a: { ...u8(1, 0), extra: [1] } }, 1)).tensors.size).toBe(1);
  });

  test("file shorter than 8 bytes", () => {
    for (let n = 0; n < 8; n++) {
      expectTaoError(() => parseSafetensors(new Uint8Array(n)), "INVALID_ARGUMENT", new RegExp(`file of ${n} bytes is shorter`));
    }
    expectTaoError(() => parseSafetensors([1, 2, 3] as unknown as Uint8Array), "INVALID_ARGUMENT", /Uint8Array/);
  });

  test("header length larger than the file or than the cap", () => {
    expectTaoError(() => parseSafetensors(fileOf("{}", [], 1)), "INVALID_ARGUMENT", /not valid JSON/); // "{" only
    expectTaoError(() => parseSafetensors(fileOf("{}", [], 100)), "INVALID_ARGUMENT", /header length 100 runs past the end of the 10-byte file/);
    expectTaoError(() => parseSafetensors(fileOf("{}", [], SAFETENSORS_MAX_HEADER_BYTES + 1)), "INVALID_ARGUMENT", /larger than the 100000000-byte limit/);
    expectTaoError(() => parseSafetensors(fileOf("{}", [], 2n ** 64n - 1n)), "INVALID_ARGUMENT", /18446744073709551615 is larger/);
    expectTaoError(() => parseSafetensors(fileOf("{}", [], 2n ** 53n + 1n)), "INVALID_ARGUMENT", /larger than/);
    expect(SAFETENSORS_MAX_HEADER_BYTES).toBe(100_000_000);
  });

  test("header that is not UTF-8, not JSON or not an object", () => {
    expectTaoError(() => parseSafetensors(fileOf(new Uint8Array([0x7b, 0xff, 0x7d]))), "INVALID_ARGUMENT", /not valid UTF-8/);
    expectTaoError(() => parseSafetensors(fileOf(new Uint8Array([0x7b, 0xed, 0xa0, 0x80, 0x7d]))), "INVALID_ARGUMENT", /not valid UTF-8/); // a surrogate
    for (const h of ["", "{", "nope", "{'a': 1}", "\uFEFF{}", "{} x", "{\"a\":1,}"]) {
      expectTaoError(() => parseSafetensors(fileOf(h)), "INVALID_ARGUMENT", /not valid JSON/);
    }
    expectTaoError(() => parseSafetensors(fileOf("[".repeat(100000))), "INVALID_ARGUMENT", /not valid JSON/);
    for (const h of ["[]", "null", "42", "\"s\"", "true"]) {
      expectTaoError(() => parseSafetensors(fileOf(h)), "INVALID_ARGUMENT", /not a JSON object/);
    }
  });

  test("entries that are not objects, miss fields or have wrong types", () => {
    for (const v of [5, null, [], "x"]) bad({ a: v }, 0, /tensor "a": entry must be an object/);
    bad({ a: { shape: [1], data_offsets: [0, 4] } }, 4, /"dtype" must be a string/);
    bad({ a: { dtype: 5, shape: [1], data_offsets: [0, 4] } }, 4, /"dtype" must be a string/);
    bad({ a: { dtype: "F33", shape: [1], data_offsets: [0, 4] } }, 4, /unknown dtype "F33"/);
    bad({ a: { dtype: "f32", shape: [1], data_offsets: [0, 4] } }, 4, /unknown dtype "f32"/);
    bad({ a: { dtype: "constructor", shape: [1], data_offsets: [0, 4] } }, 4, /unknown dtype/);
    bad({ a: { dtype: "F32", data_offsets: [0, 4] } }, 4, /"shape" must be an array/);
    bad({ a: { dtype: "F32", shape: "1", data_offsets: [0, 4] } }, 4, /"shape" must be an array/);
    bad({ a: { dtype: "F32", shape: [1, "2"], data_offsets: [0, 4] } }, 4, /dims must be non-negative integers/);
    bad({ a: { dtype: "F32", shape: [1, null], data_offsets: [0, 4] } }, 4, /dims must be/);
    bad({ a: { dtype: "F32", shape: [1] } }, 4, /"data_offsets" must be \[begin, end\]/);
    for (const o of ["0,4", [0], [0, 4, 8], {}, 4]) bad({ a: { dtype: "F32", shape: [1], data_offsets: o } }, 4, /"data_offsets" must be \[begin, end\]/);
    bad({ a: { dtype: "F32", shape: [1], data_offsets: ["0", 4] } }, 4, /must hold non-negative integers/);
    bad({ a: { dtype: "F32", shape: [1], data_offsets: [0, null] } }, 4, /must hold non-negative integers/);
  });

  test("negative, non-integer and unsafe dims; shape products that overflow", () => {
    bad({ a: f32([-1], 0, 0) }, 0, /has -1: dims must be non-negative integers/);
    bad({ a: f32([1.5], 0, 6) }, 6, /has 1.5/);
    bad({ a: f32([2 ** 53], 0, 0) }, 0, /has 9007199254740992/);
    bad({ a: f32([1e300], 0, 0) }, 0, /dims must be/);
    expectTaoError(() => parseSafetensors(fileOf(`{"a":{"dtype":"F32","shape":[1e999],"data_offsets":[0,0]}}`)), "INVALID_ARGUMENT", /has Infinity/);
    bad({ a: f32([2 ** 30, 2 ** 30, 2 ** 30], 0, 0) }, 0, /has too many elements/);
    bad({ a: f32([2 ** 26, 2 ** 26, 2], 0, 0) }, 0, /too many elements/); // 2^53 elements
    bad({ a: f32([2 ** 50], 0, 0) }, 0, /F32\[1125899906842624\] has too many bytes/); // 2^55 bits
  });

  test("data_offsets: negative, non-integer, unsafe, begin after end, past the buffer, wrong byte count", () => {
    bad({ a: f32([1], -4, 0) }, 4, /must hold non-negative integers/);
    bad({ a: f32([1], 0.5, 4.5) }, 5, /must hold non-negative integers/);
    bad({ a: f32([1], 0, 2 ** 53) }, 4, /must hold non-negative integers below 2\^53/);
    bad({ a: f32([0], 4, 0) }, 4, /\[4, 0\] begin after they end/);
    bad({ a: f32([1], 0, 4) }, 3, /\[0, 4\] run past the end of the 3-byte data buffer/);
    bad({ a: f32([2], 0, 4) }, 4, /hold 4 bytes but F32\[2\] needs 8/);
    bad({ a: f32([], 0, 0) }, 0, /hold 0 bytes but F32\[\] needs 4/);
    bad({ a: { dtype: "I8", shape: [3], data_offsets: [0, 4] } }, 4, /hold 4 bytes but I8\[3\] needs 3/);
  });

  test("overlapping tensors and holes in the data buffer", () => {
    bad({ a: u8(4, 0), b: u8(4, 2) }, 6, /tensor "b" at \[2, 6\) overlaps tensor "a" at \[0, 4\)/);
    bad({ a: u8(4, 0), b: u8(4, 0) }, 4, /overlaps/); // the same bytes twice
    bad({ a: u8(4, 0), z: u8(0, 2) }, 4, /tensor "z" at \[2, 2\) overlaps/); // empty tensor inside another
    bad({ a: u8(4, 0), b: u8(4, 6) }, 10, /bytes \[4, 6\) of the data buffer belong to no tensor/);
    bad({ a: u8(4, 2) }, 6, /bytes \[0, 2\) of the data buffer belong to no tensor/);
    bad({ a: u8(4, 0) }, 6, /bytes \[4, 6\) at the end of the data buffer belong to no tensor/);
    bad({}, 1, /bytes \[0, 1\) at the end/);
  });

  test("__metadata__: values must be strings; it is not a tensor name", () => {
    bad({ __metadata__: { a: 1 } }, 0, /"__metadata__" must map strings to strings.*"a" is 1/);
    bad({ __metadata__: { a: "x", b: null } }, 0, /"b" is null/);
    bad({ __metadata__: { a: { b: "c" } } }, 0, /"a" is \{"b":"c"\}/);
    for (const m of ["x", null, [], 3]) bad({ __metadata__: m }, 0, /"__metadata__" must map strings to strings/);
    bad({ __metadata__: f32([1], 0, 4) }, 4, /"__metadata__" must map strings to strings \(and is no tensor name\)/);
    expectTaoError(() => serializeSafetensors({ __metadata__: zeros([1]) }), "INVALID_ARGUMENT", /"__metadata__" is reserved/);
    expectTaoError(() => serializeSafetensors(new Map([["__metadata__", zeros([1])]])), "INVALID_ARGUMENT", /reserved/);
  });

  test("writer inputs", () => {
    expectTaoError(() => serializeSafetensors({ a: zeros([1]) }, { k: 1 as unknown as string }), "INVALID_ARGUMENT", /metadata values must be strings: "k"/);
    expectTaoError(() => serializeSafetensors({ a: zeros([1]) }, "x" as unknown as Record<string, string>), "INVALID_ARGUMENT", /metadata must be an object/);
    expectTaoError(() => serializeSafetensors({ a: new Float32Array(1) as unknown as Tensor }), "INVALID_ARGUMENT", /"a" is not a Tensor/);
    expectTaoError(() => serializeSafetensors(new Map([[1 as unknown as string, zeros([1])]])), "INVALID_ARGUMENT", /names must be strings/);
    expectTaoError(() => serializeSafetensors(null as unknown as Record<string, Tensor>), "INVALID_ARGUMENT", /must be a Map or an object/);
    const gone = zeros([2]);
    gone.dispose();
    expectTaoError(() => serializeSafetensors({ gone }), "INVALID_ARGUMENT", /tensor "gone" was disposed/);
  });

  test("dtypes of the format that tao lacks are UNSUPPORTED, naming the tensor and dtype", () => {
    for (const [dtype, size] of [["F64", 8], ["I64", 8], ["U64", 8], ["U32", 4], ["I16", 2], ["U16", 2], ["BOOL", 1], ["F8_E8M0", 1], ["C64", 8]] as const) {
      const header = { ok: u8(2, 0), "my.weight": { dtype, shape: [3], data_offsets: [2, 2 + 3 * size] } };
      expectTaoError(() => parseSafetensors(fileOfJson(header, 2 + 3 * size)), "UNSUPPORTED", new RegExp(`tensor "my\\.weight" has dtype ${dtype}`));
    }
    expectTaoError(() => parseSafetensors(fileOfJson({ a: { dtype: "F4", shape: [4], data_offsets: [0, 2] } }, 2)), "UNSUPPORTED", /F4/);
    bad({ a: { dtype: "F4", shape: [3], data_offsets: [0, 2] } }, 2, /F4\[3\] does not fill a whole number of bytes/);
    // A malformed file is INVALID_ARGUMENT even when it also holds an unsupported dtype.
    bad({ a: { dtype: "F64", shape: [1], data_offsets: [0, 8] } }, 9, /at the end/);
  });
});

describe("fuzz", () => {
  const next = rng(2024);
  const base = serializeSafetensors(
    {
      weight: randomTensor("bf16", [4, 6], next),
      bias: randomTensor("f32", [6], next),
      scale: randomTensor("f16", [2, 1], next),
      q: randomTensor("i8", [3, 5], next),
      zp: randomTensor("u8", [0], next),
      idx: randomTensor("i32", [], next),
      e4: randomTensor("f8e4m3fn", [7], next),
      e5: randomTensor("f8e5m2", [1, 3], next),
    },
    { format: "pt", note: "fuzz base" },
  );
  const headerEnd = 8 + Number(new DataView(base.buffer).getBigUint64(0, true));

  /** Parsing must return tensors that fit inside the input, or throw a TaoError: nothing else. */
  function checkParse(bytes: Uint8Array): void {
    let result;
    try {
      result = parseSafetensors(bytes);
    } catch (e) {
      if (!(e instanceof TaoError)) throw e;
      expect(["INVALID_ARGUMENT", "UNSUPPORTED"]).toContain(e.codeName);
      return;
    }
    let total = 0;
    for (const t of result.tensors.values()) {
      expect(t.hostData().byteLength).toBe(t.nbytes);
      total += t.nbytes;
    }
    expect(total).toBeLessThanOrEqual(bytes.length);
  }

  const runs = { numRuns: 2000 };

  test("the base file parses", () => {
    expect(parseSafetensors(base).tensors.size).toBe(8);
    expect(headerEnd % 8).toBe(0);
  });

  test("truncations", () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: base.length - 1 }), (n) => {
      expectTaoError(() => parseSafetensors(base.slice(0, n)), "INVALID_ARGUMENT");
    }), runs);
  });

  test("random byte flips (anywhere, and inside the header)", () => {
    const flip = (lo: number, hi: number) => fc.array(fc.tuple(fc.integer({ min: lo, max: hi - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 });
    fc.assert(fc.property(fc.oneof(flip(0, base.length), flip(8, headerEnd), flip(0, 8)), (flips) => {
      const bytes = base.slice();
      for (const [i, v] of flips) bytes[i] = v;
      checkParse(bytes);
    }), runs);
  });

  test("random header-length values", () => {
    const near = fc.integer({ min: -16, max: 16 }).map((d) => BigInt(Math.max(0, headerEnd - 8 + d)));
    fc.assert(fc.property(fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: BigInt(base.length) }), near), (n) => {
      const bytes = base.slice();
      new DataView(bytes.buffer).setBigUint64(0, n, true);
      checkParse(bytes);
    }), runs);
  });

  test("random JSON headers over the base file's data", () => {
    const data = base.subarray(headerEnd);
    const dim = fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer(), fc.double(), fc.constantFrom(2 ** 53, -0, 1e300, Number.MAX_SAFE_INTEGER));
    const offset = fc.oneof(fc.integer({ min: 0, max: data.length + 2 }), fc.integer(), fc.double(), fc.constant(-0));
    const entry = fc.oneof(
      { weight: 6, arbitrary: fc.record({
        dtype: fc.oneof(fc.constantFrom("F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "I8", "U8", "I32", "F64", "BOOL", "F4", "toString", "__proto__"), fc.string()),
        shape: fc.oneof(fc.array(dim, { maxLength: 4 }), fc.jsonValue()),
        data_offsets: fc.oneof(fc.tuple(offset, offset), fc.array(offset, { maxLength: 3 }), fc.jsonValue()),
      }, { requiredKeys: [] }) },
      { weight: 1, arbitrary: fc.jsonValue() },
    );
    const header = fc.oneof(
      { weight: 8, arbitrary: fc.dictionary(fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom("__metadata__", "__proto__")), entry, { maxKeys: 6 }) },
      { weight: 1, arbitrary: fc.jsonValue() },
    );
    const metadata = fc.option(fc.oneof(fc.dictionary(fc.string(), fc.string()), fc.jsonValue()), { nil: undefined });
    fc.assert(fc.property(header, metadata, fc.integer({ min: 0, max: data.length }), (h, m, dataLength) => {
      const obj = typeof h === "object" && h !== null && !Array.isArray(h) && m !== undefined ? { ...h, __metadata__: m } : h;
      checkParse(fileOf(JSON.stringify(obj) ?? "", data.subarray(0, dataLength)));
    }), runs);
  });

  test("consistent random headers with one field perturbed reach the layout checks", () => {
    const sizes: Record<string, number> = { F32: 4, I32: 4, BF16: 2, F16: 2, F8_E4M3: 1, F8_E5M2: 1, I8: 1, U8: 1, F64: 8 };
    const spec = fc.array(fc.record({ dtype: fc.constantFrom(...Object.keys(sizes)), shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }) }), { maxLength: 5 });
    const perturb = fc.record({ which: fc.nat(), field: fc.constantFrom("begin", "end", "shift", "dim", "none", "extra", "drop"), delta: fc.integer({ min: -3, max: 3 }) });
    fc.assert(fc.property(spec, perturb, fc.boolean(), (tensors, p, shuffle) => {
      let offset = 0;
      const header: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }> = {};
      tensors.forEach((t, i) => {
        const n = t.shape.reduce((a, b) => a * b, 1) * sizes[t.dtype]!;
        header[`t${i}`] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + n] };
        offset += n;
      });
      let dataLength = offset;
      const names = Object.keys(header);
      const victim = names.length ? header[names[p.which % names.length]!]! : undefined;
      if (victim && p.field === "begin") victim.data_offsets[0]! += p.delta;
      if (victim && p.field === "end") victim.data_offsets[1]! += p.delta;
      if (victim && p.field === "shift") victim.data_offsets = victim.data_offsets.map((o) => o + p.delta);
      if (victim && p.field === "dim" && victim.shape.length) victim.shape[0]! += p.delta;
      if (p.field === "extra") dataLength += Math.abs(p.delta);
      if (victim && p.field === "drop") delete header[names[p.which % names.length]!];
      const ordered = shuffle ? Object.fromEntries(Object.entries(header).reverse()) : header;
      const bytes = fileOf(JSON.stringify(ordered), new Uint8Array(dataLength).map((_, i) => i));
      checkParse(bytes);
      if (p.field === "none" && !tensors.some((t) => t.dtype === "F64")) {
        expect(parseSafetensors(bytes).tensors.size).toBe(tensors.length);
      }
    }), runs);
  });
});
