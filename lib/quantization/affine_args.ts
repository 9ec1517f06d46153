/**
 * Packs tao_affine_args (include/tao.h): 32 eight-byte words, in header order. The size is checked
 * against tao_affine_args_size() by test/primitives.test.ts.
 */
import { addressOf, native } from "../native/index.ts";
import * as C from "../native/constants.ts";
import { check, invalid } from "../errors.ts";
import { dtypeCode } from "../dtypes.ts";
import { commonDevice, type Tensor } from "../tensor.ts";

export const AFFINE_ARGS_WORDS = 32;

/** Word index of each field. */
const W = {
  ndim: 0, shape: 1, blockSize: 9, mappingType: 17, zeroPointDomain: 18, preserveZero: 19,
  targetDtype: 20, quantMin: 21, quantMax: 22, eps: 23, input: 24, inputDtype: 25, output: 26,
  outputDtype: 27, scale: 28, scaleDtype: 29, zeroPoint: 30, zeroPointDtype: 31,
} as const;

export interface AffineArgs {
  blockSize: readonly number[];
  mappingType: number;
  zeroPointDomain: number;
  preserveZero: boolean;
  /** TAO_* code of the stored target type (TAO_I8 for int4, ...). */
  targetDtype: number;
  quantMin: number;
  quantMax: number;
  eps: number;
  input: Tensor;
  output: Tensor | null;
  scale: Tensor;
  zeroPoint: Tensor | null;
}

/**
 * Checks a block size against the input's shape (one positive integer per dim, at most
 * TAO_MAX_DIMS dims) and returns the shape of scale / zero point: ceil(shape[d] / blockSize[d]).
 * Whether each block size divides its dim is left to the C side.
 */
export function qparamShape(shape: readonly number[], blockSize: readonly number[], op: string): number[] {
  if (shape.length < 1 || shape.length > C.TAO_MAX_DIMS) throw invalid(op, `input must have 1..${C.TAO_MAX_DIMS} dims, not ${shape.length}`);
  if (blockSize.length !== shape.length) throw invalid(op, `blockSize [${blockSize}] needs one entry per dim of [${shape}]`);
  if (!blockSize.every((b) => Number.isSafeInteger(b) && b >= 1)) throw invalid(op, `blockSize [${blockSize}] entries must be positive integers`);
  return shape.map((d, i) => Math.ceil(d / blockSize[i]!));
}

type AffineOp =
  | "tao_choose_qparams_affine"
  | "tao_quantize_affine"
  | "tao_dequantize_affine"
  | "tao_fake_quantize_affine";

/**
 * Runs one affine primitive on the tensors' common device. Host buffers are pinned (referenced
 * from `inFlight`) for the duration of the call, since the struct holds only their addresses.
 */
export function callAffine(fn: AffineOp, op: string, args: AffineArgs): void {
  const { input, output, scale, zeroPoint } = args;
  commonDevice(op, [input, output, scale, zeroPoint]);
  const words = new BigInt64Array(AFFINE_ARGS_WORDS);
  const pinned: unknown[] = [];
  const address = (t: Tensor | null): bigint => {
    if (t === null) return 0n;
    const p = t.ptr(op);
    pinned.push(p);
    if (p === null) return 0n;
    return typeof p === "bigint" ? p : addressOf(p);
  };
  const shape = input.shape;
  words[W.ndim] = BigInt(shape.length);
  shape.forEach((d, i) => (words[W.shape + i] = BigInt(d)));
  args.blockSize.forEach((b, i) => (words[W.blockSize + i] = BigInt(b)));
  words[W.mappingType] = BigInt(args.mappingType);
  words[W.zeroPointDomain] = BigInt(args.zeroPointDomain);
  words[W.preserveZero] = args.preserveZero ? 1n : 0n;
  words[W.targetDtype] = BigInt(args.targetDtype);
  words[W.quantMin] = BigInt(args.quantMin);
  words[W.quantMax] = BigInt(args.quantMax);
  new Float64Array(words.buffer)[W.eps] = args.eps;
  words[W.input] = address(input);
  words[W.inputDtype] = BigInt(dtypeCode(input.dtype));
  words[W.output] = address(output);
  words[W.outputDtype] = BigInt(output ? dtypeCode(output.dtype) : -1);
  words[W.scale] = address(scale);
  words[W.scaleDtype] = BigInt(dtypeCode(scale.dtype));
  words[W.zeroPoint] = address(zeroPoint);
  words[W.zeroPointDtype] = BigInt(zeroPoint ? dtypeCode(zeroPoint.dtype) : -1);
  const ctx = input.context.handle(op);
  inFlight.push(pinned);
  try {
    check(native[fn](ctx, words), op);
  } finally {
    inFlight.pop();
  }
}

const inFlight: unknown[][] = [];
