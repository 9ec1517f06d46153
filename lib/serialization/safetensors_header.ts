/**
 * The safetensors container without tensors: dtype names, validation of the 8-byte length + JSON
 * header of a file, and the header's encoding. The tensor side (Tensor views, files) is in
 * safetensors.ts.
 *
 * Layout: a little-endian u64 N, N bytes of UTF-8 JSON, then the data buffer. The JSON maps each
 * tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (byte offsets into the data
 * buffer) plus an optional "__metadata__" object of string values.
 */
import { ErrorCode, invalid, TaoError } from "../errors.ts";
import type { DType } from "../dtypes.ts";

/** The largest header accepted, in bytes: the reference implementation's MAX_HEADER_SIZE (100 MB). */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

interface FormatDType {
  /** Bits per element. */
  bits: number;
  /** Position in the reference implementation's Dtype enum, which is in increasing alignment. */
  rank: number;
  /** Our dtype, when tao has one. */
  tao?: DType;
}

/** Every dtype name of the safetensors format (in the reference's enum order) with its size. */
const FORMAT_DTYPES = new Map<string, FormatDType>([
  ["BOOL", { bits: 8, rank: 0 }],
  ["F4", { bits: 4, rank: 1 }],
  ["F6_E2M3", { bits: 6, rank: 2 }],
  ["F6_E3M2", { bits: 6, rank: 3 }],
  ["U8", { bits: 8, rank: 4, tao: "u8" }],
  ["I8", { bits: 8, rank: 5, tao: "i8" }],
  ["F8_E5M2", { bits: 8, rank: 6, tao: "f8e5m2" }],
  ["F8_E4M3", { bits: 8, rank: 7, tao: "f8e4m3fn" }],
  ["F8_E8M0", { bits: 8, rank: 8 }],
  ["I16", { bits: 16, rank: 9 }],
  ["U16", { bits: 16, rank: 10 }],
  ["F16", { bits: 16, rank: 11, tao: "f16" }],
  ["BF16", { bits: 16, rank: 12, tao: "bf16" }],
  ["I32", { bits: 32, rank: 13, tao: "i32" }],
  ["U32", { bits: 32, rank: 14 }],
  ["F32", { bits: 32, rank: 15, tao: "f32" }],
  ["C64", { bits: 64, rank: 16 }],
  ["F64", { bits: 64, rank: 17 }],
  ["I64", { bits: 64, rank: 18 }],
  ["U64", { bits: 64, rank: 19 }],
]);

const FROM_TAO = new Map<DType, string>(
  [...FORMAT_DTYPES].filter(([, d]) => d.tao !== undefined).map(([name, d]) => [d.tao!, name]),
);

/** The safetensors dtype name of one of our dtypes ("f8e4m3fn" -> "F8_E4M3"). */
export function safetensorsDtypeName(dtype: DType): string {
  const name = FROM_TAO.get(dtype);
  if (name === undefined) throw invalid("safetensors", `unknown dtype ${JSON.stringify(dtype)}`);
  return name;
}

/** Our dtype for a safetensors dtype name, or undefined when tao has none (F64, I64, BOOL, ...). */
export function taoDtypeOf(formatName: string): DType | undefined {
  return FORMAT_DTYPES.get(formatName)?.tao;
}

/** The order in which the reference writer lays tensors out: decreasing alignment (dtype), then name. */
export function layoutOrder(a: { name: string; dtype: DType }, b: { name: string; dtype: DType }): number {
  const ra = FORMAT_DTYPES.get(FROM_TAO.get(a.dtype)!)!.rank, rb = FORMAT_DTYPES.get(FROM_TAO.get(b.dtype)!)!.rank;
  return rb - ra || compareCodePoints(a.name, b.name);
}

/**
 * Compares strings by code point, which is the order of their UTF-8 bytes (Rust's String order),
 * rather than JavaScript's UTF-16 code unit order.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i), y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (D800-DFFF) stand for code points above FFFF: move them past E000-FFFF.
    x += x >= 0xd800 && x <= 0xdfff ? 0x2000 : x >= 0xe000 ? -0x800 : 0;
    y += y >= 0xd800 && y <= 0xdfff ? 0x2000 : y >= 0xe000 ? -0x800 : 0;
    return x - y;
  }
  return a.length - b.length;
}

/** One tensor entry of a validated header. */
export interface HeaderEntry {
  name: string;
  /** The safetensors dtype name as written ("F32", "I64", ...). */
  dtype: string;
  shape: number[];
  numel: number;
  /** Byte offsets in the data buffer, begin <= end. */
  begin: number;
  end: number;
}

export interface DecodedHeader {
  metadata: Record<string, string>;
  /** The entries by increasing data offset (their layout order in the file). */
  entries: HeaderEntry[];
  /** Offset of the data buffer in the file: 8 + N. */
  dataStart: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const show = (v: unknown): string => {
  const s = typeof v === "number" ? String(v) : JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
};

/**
 * Reads and validates the header of the safetensors file `bytes` (the whole file). Checks the
 * length prefix against the file size and the 100 MB cap, that the header is UTF-8 JSON of an
 * object, every entry's fields and types, that each tensor's byte range holds exactly
 * numel × dtype size bytes inside the data buffer, and that the tensors cover the data buffer
 * exactly (no overlap, no hole, nothing after the last one). Every violation is a TaoError
 * INVALID_ARGUMENT naming `op`. Unknown dtype names are invalid; dtypes of the format that tao does
 * not have (F64, BOOL, ...) pass: the caller decides.
 */
export function decodeHeader(bytes: Uint8Array, op: string): DecodedHeader {
  if (!(bytes instanceof Uint8Array)) throw invalid(op, "expected the file's bytes as a Uint8Array");
  if (bytes.length < 8) throw invalid(op, `file of ${bytes.length} bytes is shorter than the 8-byte header length`);
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(SAFETENSORS_MAX_HEADER_BYTES)) {
    throw invalid(op, `header length ${n64} is larger than the ${SAFETENSORS_MAX_HEADER_BYTES}-byte limit`);
  }
  const n = Number(n64);
  if (8 + n > bytes.length) throw invalid(op, `header length ${n} runs past the end of the ${bytes.length}-byte file`);
  const dataStart = 8 + n, dataLength = bytes.length - dataStart;

  let text: string;
  try {
    const raw = bytes.subarray(8, dataStart);
    // ignoreBOM: a byte order mark stays in the text, and JSON then rejects it, as the reference does.
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(raw.buffer instanceof ArrayBuffer ? raw : raw.slice());
  } catch {
    throw invalid(op, "header is not valid UTF-8");
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw invalid(op, `header is not valid JSON (${(e as Error).message})`);
  }
  if (!isObject(header)) throw invalid(op, "header is not a JSON object");

  let metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = decodeMetadata(value, op);
    } else {
      entries.push(decodeEntry(name, value, dataLength, op));
    }
  }

  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: HeaderEntry | undefined;
  for (const e of entries) {
    if (e.begin > covered) {
      throw invalid(op, `bytes [${covered}, ${e.begin}) of the data buffer belong to no tensor (a hole before "${e.name}")`);
    }
    if (e.begin < covered) {
      throw invalid(op, `tensor "${e.name}" at [${e.begin}, ${e.end}) overlaps tensor "${previous!.name}" at [${previous!.begin}, ${previous!.end})`);
    }
    covered = e.end;
    previous = e;
  }
  if (covered !== dataLength) {
    throw invalid(op, `bytes [${covered}, ${dataLength}) at the end of the data buffer belong to no tensor`);
  }
  return { metadata, entries, dataStart };
}

function decodeMetadata(value: unknown, op: string): Record<string, string> {
  const bad = (detail: string) =>
    invalid(op, `"__metadata__" must map strings to strings (and is no tensor name): ${detail}`);
  if (!isObject(value)) throw bad(`it is ${show(value)}`);
  const pairs = Object.entries(value);
  const wrong = pairs.find(([, v]) => typeof v !== "string");
  if (wrong !== undefined) throw bad(`the value of ${JSON.stringify(wrong[0])} is ${show(wrong[1])}`);
  // fromEntries defines own properties, so a key "__proto__" stays an ordinary key.
  return Object.fromEntries(pairs) as Record<string, string>;
}

function decodeEntry(name: string, value: unknown, dataLength: number, op: string): HeaderEntry {
  const bad = (detail: string) => invalid(op, `tensor ${JSON.stringify(name)}: ${detail}`);
  if (!isObject(value)) throw bad(`entry must be an object, not ${show(value)}`);
  const { dtype, shape, data_offsets: offsets } = value;

  if (typeof dtype !== "string") throw bad(`"dtype" must be a string, not ${show(dtype)}`);
  const format = FORMAT_DTYPES.get(dtype);
  if (format === undefined) throw bad(`unknown dtype ${JSON.stringify(dtype)}`);

  if (!Array.isArray(shape)) throw bad(`"shape" must be an array of non-negative integers, not ${show(shape)}`);
  const dims: number[] = [];
  for (const d of shape as unknown[]) {
    if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 0) {
      throw bad(`"shape" ${show(shape)} has ${show(d)}: dims must be non-negative integers below 2^53`);
    }
    dims.push(d === 0 ? 0 : d); // -0 -> 0
  }
  let numel = 1;
  if (dims.includes(0)) numel = 0;
  else {
    for (const d of dims) {
      numel *= d;
      if (numel > Number.MAX_SAFE_INTEGER) throw bad(`shape [${dims}] has too many elements (more than 2^53)`);
    }
  }

  if (!Array.isArray(offsets) || offsets.length !== 2) {
    throw bad(`"data_offsets" must be [begin, end], not ${show(offsets)}`);
  }
  const [begin, end] = offsets as unknown[];
  for (const o of [begin, end]) {
    if (typeof o !== "number" || !Number.isSafeInteger(o) || o < 0) {
      throw bad(`"data_offsets" ${show(offsets)} must hold non-negative integers below 2^53`);
    }
  }
  const b = (begin as number) + 0, e = (end as number) + 0;
  if (b > e) throw bad(`"data_offsets" [${b}, ${e}] begin after they end`);
  if (e > dataLength) throw bad(`"data_offsets" [${b}, ${e}] run past the end of the ${dataLength}-byte data buffer`);

  const bits = numel * format.bits;
  if (!Number.isSafeInteger(bits)) throw bad(`${dtype}[${dims}] has too many bytes (more than 2^50)`);
  if (bits % 8 !== 0) throw bad(`${dtype}[${dims}] does not fill a whole number of bytes`);
  if (e - b !== bits / 8) {
    throw bad(`"data_offsets" [${b}, ${e}] hold ${e - b} bytes but ${dtype}[${dims}] needs ${bits / 8}`);
  }
  return { name, dtype, shape: dims, numel, begin: b, end: e };
}

/** One tensor of a header to write: its data lies at [begin, end) of the data buffer. */
export interface EncodeEntry {
  name: string;
  dtype: DType;
  shape: readonly number[];
  begin: number;
  end: number;
}

/**
 * The header bytes (without the length prefix) for `entries`, written in the given order, and
 * `metadata` (first, its keys sorted; left out when empty): compact JSON as the reference writer
 * produces it, padded with spaces to a multiple of 8 bytes so that the data buffer starts 8-byte
 * aligned.
 */
export function encodeHeader(entries: readonly EncodeEntry[], metadata: readonly (readonly [string, string])[]): Uint8Array {
  const parts: string[] = [];
  if (metadata.length > 0) {
    const pairs = [...metadata].sort((a, b) => compareCodePoints(a[0], b[0]));
    parts.push(`"__metadata__":{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(",")}}`);
  }
  for (const e of entries) {
    parts.push(
      `${JSON.stringify(e.name)}:{"dtype":"${safetensorsDtypeName(e.dtype)}","shape":[${e.shape.join(",")}],` +
        `"data_offsets":[${e.begin},${e.end}]}`,
    );
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const padded = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
  padded.set(json);
  return padded;
}

/** A TaoError UNSUPPORTED for a tensor whose safetensors dtype tao has no counterpart of. */
export function unsupportedDtype(op: string, name: string, dtype: string): TaoError {
  const ours = [...FROM_TAO.values()].join(", ");
  return new TaoError(ErrorCode.UNSUPPORTED, op, `tensor ${JSON.stringify(name)} has dtype ${dtype}, which tao does not support (it reads ${ours})`);
}
