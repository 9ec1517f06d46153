/** TaoError and the one place where a native status becomes an exception. */
import * as C from "./native/constants.ts";

/** Error kinds of tao.h's tao_status, by name. */
export const ErrorCode = {
  INVALID_ARGUMENT: C.TAO_ERR_INVALID_ARGUMENT,
  OUT_OF_MEMORY: C.TAO_ERR_OUT_OF_MEMORY,
  UNSUPPORTED: C.TAO_ERR_UNSUPPORTED,
  UNAVAILABLE: C.TAO_ERR_UNAVAILABLE,
  DEVICE_MISMATCH: C.TAO_ERR_DEVICE_MISMATCH,
  CUDA: C.TAO_ERR_CUDA,
  LIBRARY: C.TAO_ERR_LIBRARY,
  INTERNAL: C.TAO_ERR_INTERNAL,
} as const;
export type ErrorCodeName = keyof typeof ErrorCode;

/** Every failure of tao: `code` is a tao_status (see ErrorCode), `op` the operation that failed. */
export class TaoError extends Error {
  override name = "TaoError";
  constructor(readonly code: number, readonly op: string, detail: string) {
    super(`${op}: ${detail}`);
  }

  /** The code's name ("INVALID_ARGUMENT", ...), or "UNKNOWN" for a status tao.h does not define. */
  get codeName(): ErrorCodeName | "UNKNOWN" {
    const entry = Object.entries(ErrorCode).find(([, v]) => v === this.code);
    return entry ? (entry[0] as ErrorCodeName) : "UNKNOWN";
  }
}

let lastError: () => string = () => "";

/** Called once by lib/native when the library is open: where check() reads tao_last_error(). */
export function setLastErrorSource(source: () => string): void {
  lastError = source;
}

/** Throws a TaoError for a non-zero status, with tao_last_error()'s message. */
export function check(status: number, op: string): void {
  if (status !== C.TAO_OK) throw new TaoError(status, op, lastError() || `failed with status ${status}`);
}

/** A TaoError with code INVALID_ARGUMENT, for checks done in TypeScript. */
export function invalid(op: string, detail: string): TaoError {
  return new TaoError(C.TAO_ERR_INVALID_ARGUMENT, op, detail);
}
