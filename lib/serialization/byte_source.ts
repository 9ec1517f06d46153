/**
 * Random access to a file's bytes, in memory or read piece by piece from an open file, so a loader
 * can check a header before reading (or allocating for) anything else, and read files larger than
 * one read call or one buffer allows (llama2.c checkpoints of 7B models are 27 GB).
 */
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { invalid } from "../errors.ts";

export interface ByteSource {
  /** Total bytes. */
  readonly size: number;
  /** Bytes [offset, offset + length) (the caller keeps within size); a view or a fresh buffer. */
  read(offset: number, length: number): Uint8Array;
}

/** A source over bytes in memory (reads are views). */
export function bufferSource(bytes: Uint8Array): ByteSource {
  return { size: bytes.length, read: (offset, length) => bytes.subarray(offset, offset + length) };
}

const CHUNK = 1 << 30;

/** Calls `use` with a source reading the file at `path` (each read a fresh buffer); closes it after. Errors name the path. */
export function withFileSource<T>(path: string, op: string, use: (src: ByteSource) => T): T {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw invalid(op, `${path}: cannot read: ${(e as Error).message}`);
  }
  try {
    const size = fstatSync(fd).size;
    return use({
      size,
      read: (offset, length) => {
        const out = new Uint8Array(length);
        for (let done = 0; done < length;) {
          const got = readSync(fd, out, done, Math.min(CHUNK, length - done), offset + done);
          if (got === 0) throw invalid(op, `${path}: the file ended at byte ${offset + done} of ${size}`);
          done += got;
        }
        return out;
      },
    });
  } finally {
    closeSync(fd);
  }
}
