/**
 * safetensors files ↔ tensors: parse a file's bytes into host Tensors (zero-copy where aligned),
 * serialize tensors (any device) into the bytes the reference implementation writes, and read or
 * write files through node:fs (Bun and Deno). The header format and its validation are in
 * safetensors_header.ts.
 */
import { closeSync, fstatSync, openSync, readSync, writeSync } from "node:fs";
import { ErrorCode, invalid, TaoError } from "../errors.ts";
import { dtypeSize, hostArrayType, type DType, type HostArray } from "../dtypes.ts";
import { HostStorage } from "../storage.ts";
import { Tensor } from "../tensor.ts";
import {
  decodeHeader, encodeHeader, layoutOrder, taoDtypeOf, unsupportedDtype, type EncodeEntry,
} from "./safetensors_header.ts";

export { SAFETENSORS_MAX_HEADER_BYTES } from "./safetensors_header.ts";

export interface ParseSafetensorsOptions {
  /**
   * Copy every tensor's data out of the input (default false: tensors whose data is aligned for
   * their TypedArray are views of the input's buffer, so writes to one show in the other).
   */
  copy?: boolean;
}

export interface SafetensorsContents {
  /** The "__metadata__" strings ({} when the file has none). */
  metadata: Record<string, string>;
  /** Host tensors by name, in the order of their data in the file. */
  tensors: Map<string, Tensor>;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function requireLittleEndian(op: string): void {
  if (!littleEndian) throw new TaoError(ErrorCode.UNSUPPORTED, op, "safetensors data is little-endian and this host is not");
}

/**
 * Parses a whole safetensors file (the little-endian u64 header length N, N bytes of UTF-8 JSON,
 * then the data buffer) into host tensors. Dtypes map F32→f32, F16→f16, BF16→bf16,
 * F8_E4M3→f8e4m3fn, F8_E5M2→f8e5m2, I8→i8, U8→u8, I32→i32; the data is read as little-endian
 * row-major. A tensor whose data offset in `bytes.buffer` is a multiple of its element size wraps
 * that memory in place (zero-copy; the tensor keeps `bytes.buffer` alive and shares writes);
 * otherwise, or with `opts.copy`, it gets a copy. The whole header is validated first (see
 * decodeHeader: every malformed file is a TaoError INVALID_ARGUMENT, and no read goes outside
 * `bytes`); a tensor of a dtype tao lacks (F64, I64, BOOL, ...) is then a TaoError UNSUPPORTED
 * naming it. Accepts "1.0" where the format wants an integer (JSON numbers are all doubles here).
 */
export function parseSafetensors(bytes: Uint8Array, opts: ParseSafetensorsOptions = {}): SafetensorsContents {
  const op = "parseSafetensors";
  const { metadata, entries, dataStart } = decodeHeader(bytes, op);
  const dtypes: DType[] = entries.map((e) => {
    const dtype = taoDtypeOf(e.dtype);
    if (dtype === undefined) throw unsupportedDtype(op, e.name, e.dtype);
    return dtype;
  });
  requireLittleEndian(op);

  const tensors = new Map<string, Tensor>();
  entries.forEach((e, i) => {
    const dtype = dtypes[i]!;
    const start = dataStart + e.begin;
    const at = bytes.byteOffset + start;
    let data: HostArray;
    if (!opts.copy && at % dtypeSize(dtype) === 0) {
      data = new (hostArrayType(dtype))(bytes.buffer as ArrayBuffer, at, e.numel);
    } else {
      data = HostStorage.allocate(dtype, e.numel, op).data!;
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(bytes.subarray(start, dataStart + e.end));
    }
    tensors.set(e.name, new Tensor(dtype, e.shape, "cpu", new HostStorage(data)));
  });
  return { metadata, tensors };
}

type TensorsInput = Record<string, Tensor> | Map<string, Tensor>;

interface Planned extends EncodeEntry {
  tensor: Tensor;
}

/** Checks the writer's inputs and lays the tensors out: header bytes, entries in data order, data size. */
function plan(tensors: TensorsInput, metadata: Record<string, string> | undefined, op: string) {
  if (typeof tensors !== "object" || tensors === null) throw invalid(op, "tensors must be a Map or an object of Tensors");
  const pairs: [unknown, unknown][] = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const entries: Planned[] = pairs.map(([name, tensor]) => {
    if (typeof name !== "string") throw invalid(op, `tensor names must be strings, not ${String(name)}`);
    if (name === "__metadata__") throw invalid(op, `"__metadata__" is reserved for the metadata and cannot name a tensor`);
    if (!(tensor instanceof Tensor)) throw invalid(op, `${JSON.stringify(name)} is not a Tensor`);
    if (tensor.disposed) throw invalid(op, `tensor ${JSON.stringify(name)} was disposed`);
    return { name, dtype: tensor.dtype, shape: tensor.shape, begin: 0, end: 0, tensor };
  });

  let meta: [string, string][] = [];
  if (metadata !== undefined) {
    if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
      throw invalid(op, "metadata must be an object of strings");
    }
    meta = Object.entries(metadata) as [string, string][];
    const wrong = meta.find(([, v]) => typeof v !== "string");
    if (wrong !== undefined) throw invalid(op, `metadata values must be strings: ${JSON.stringify(wrong[0])} is ${typeof wrong[1]}`);
  }

  entries.sort(layoutOrder);
  let offset = 0;
  for (const e of entries) {
    e.begin = offset;
    offset += e.tensor.nbytes;
    e.end = offset;
  }
  return { header: encodeHeader(entries, meta), entries, dataBytes: offset };
}

/** Calls `use` with the tensor's bytes on the host (a temporary host copy for a device tensor). */
function withHostBytes(t: Tensor, name: string, op: string, use: (bytes: Uint8Array) => void): void {
  const host = t.to("cpu");
  try {
    const data = host.hostData(op);
    if (data.byteLength < t.nbytes) throw invalid(op, `tensor ${JSON.stringify(name)} has ${data.byteLength} bytes of storage for ${t.nbytes}`);
    use(new Uint8Array(data.buffer, data.byteOffset, t.nbytes));
  } finally {
    if (host !== t) host.dispose();
  }
}

function lengthPrefix(n: number): Uint8Array {
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(n), true);
  return prefix;
}

/**
 * Serializes tensors into safetensors bytes, as the reference implementation lays them out: tensors
 * sorted by decreasing dtype alignment (F32, I32, BF16, F16, F8_E4M3, F8_E5M2, I8, U8) and then by
 * name (code point order), their data contiguous and little-endian row-major in that order, the
 * header compact JSON in the same order padded with spaces to a multiple of 8 bytes. Every tensor
 * thus starts aligned for its element type, and parsing the result is zero-copy. `metadata` (string
 * values) is written as "__metadata__" with sorted keys, and left out when empty or absent. Device
 * tensors are copied to the host one at a time. The name "__metadata__" is a TaoError
 * INVALID_ARGUMENT, as are non-Tensor values and disposed tensors.
 */
export function serializeSafetensors(tensors: TensorsInput, metadata?: Record<string, string>): Uint8Array {
  const op = "serializeSafetensors";
  requireLittleEndian(op);
  const { header, entries, dataBytes } = plan(tensors, metadata, op);
  const dataStart = 8 + header.length;
  let out: Uint8Array;
  try {
    out = new Uint8Array(dataStart + dataBytes);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new TaoError(ErrorCode.OUT_OF_MEMORY, op, `cannot allocate ${dataStart + dataBytes} bytes on the host`);
  }
  out.set(lengthPrefix(header.length), 0);
  out.set(header, 8);
  for (const e of entries) withHostBytes(e.tensor, e.name, op, (bytes) => out.set(bytes, dataStart + e.begin));
  return out;
}

const CHUNK = 1 << 30; // bytes per read/write call (the fs calls take at most 2 GiB - 1)

function fsError(op: string, what: string, path: string, e: unknown): TaoError {
  if (e instanceof TaoError) return e;
  const err = invalid(op, `cannot ${what} ${path}: ${(e as Error)?.message ?? String(e)}`);
  (err as { cause?: unknown }).cause = e;
  return err;
}

/**
 * Reads the safetensors file at `path` into host tensors (see parseSafetensors). The file is read
 * whole into one new buffer, in 1 GiB pieces, so files over 2 GiB work; its data buffer starts
 * at offset 8 + N, so tensors written aligned (as serializeSafetensors does) are zero-copy views
 * of that buffer. A file that cannot be read is a TaoError INVALID_ARGUMENT naming the path.
 */
export function readSafetensors(path: string, opts: ParseSafetensorsOptions = {}): SafetensorsContents {
  const op = "readSafetensors";
  let bytes: Uint8Array;
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const size = fstatSync(fd).size;
    bytes = new Uint8Array(size);
    let done = 0;
    while (done < size) {
      const got = readSync(fd, bytes, done, Math.min(CHUNK, size - done), done);
      if (got === 0) throw new Error(`file ended after ${done} of ${size} bytes`);
      done += got;
    }
  } catch (e) {
    throw fsError(op, "read", path, e);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  try {
    return parseSafetensors(bytes, opts);
  } catch (e) {
    if (!(e instanceof TaoError)) throw e;
    const detail = e.message.startsWith(`${e.op}: `) ? e.message.slice(e.op.length + 2) : e.message;
    throw new TaoError(e.code, op, `${path}: ${detail}`);
    throw e;
  }
}

/**
 * Writes tensors to a safetensors file at `path` (created or truncated), with the bytes
 * serializeSafetensors would return, streamed: the header, then each tensor's data straight from
 * its host memory (device tensors through a temporary host copy, one at a time), so no
 * file-sized buffer is built. On a failure the file may be left partly written.
 */
export function writeSafetensors(path: string, tensors: TensorsInput, metadata?: Record<string, string>): void {
  const op = "writeSafetensors";
  requireLittleEndian(op);
  const { header, entries } = plan(tensors, metadata, op);
  let fd: number | undefined;
  const writeAll = (bytes: Uint8Array) => {
    for (let done = 0; done < bytes.length;) {
      done += writeSync(fd!, bytes, done, Math.min(CHUNK, bytes.length - done));
    }
  };
  try {
    fd = openSync(path, "w");
    writeAll(lengthPrefix(header.length));
    writeAll(header);
    for (const e of entries) withHostBytes(e.tensor, e.name, op, writeAll);
  } catch (e) {
    throw fsError(op, "write", path, e);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
