/**
 * Shared test helpers, runtime-neutral (used by bun test and the Deno suite): a float64 reference of
 * the affine primitives written from the formulas in include/tao.h, bit-exact reference encoders and
 * decoders of the small float formats, a float64 reference of linear with its error bound (dense and
 * quantized weights), SQNR, a seeded generator and the list of devices present.
 */
import {
  capabilities, cudaDeviceCount, disposePlain, full, linear, quantizedLinearImpl, QuantizedLinearPriority, randn, TaoError,
  type AffineQuantizedTensor, type DType, type Tensor,
} from "../lib/index.ts";

// ------------------------------------------------------------------ devices

/** Devices to test on: "cpu" always, "cuda:0" when a CUDA device is usable. */
export const hasCuda = cudaDeviceCount() > 0;
export const devices: string[] = hasCuda ? ["cpu", "cuda:0"] : ["cpu"];
/** Why CUDA tests are skipped (empty when they run). */
export const noCudaReason = hasCuda ? "" : `no CUDA device: ${capabilities().cuda.error}`;

// ------------------------------------------------------------------ random inputs

/** A seeded uniform generator in [0, 1) (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A fresh seed for this run (printed by tests that use it so failures can be replayed). */
export function freshSeed(): number {
  const fixed = globalThis.process?.env?.TAO_TEST_SEED; // replays a failure: every test takes the seed its name showed
  return fixed ? Number(fixed) : Math.floor(Math.random() * 2 ** 31);
}

/** n normal samples (Box-Muller over `next`) times `std`, as float32 values. */
export function normals(next: () => number, n: number, std = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = std * Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
  }
  return out;
}

// ------------------------------------------------------------------ rounding

const fr = Math.fround;

/** Round half to even. */
export function rne(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : r;
}

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

/** The float32 next to finite float32 `x` in the direction of `toward`. */
function nextF32(x: number, toward: number): number {
  if (x === 0) return toward > 0 ? 2 ** -149 : -(2 ** -149);
  f32buf[0] = x;
  u32buf[0]! += (toward > x) === (x > 0) ? 1 : -1;
  return f32buf[0]!;
}

/** float32 rounding (to nearest even) of the exact value hi + lo, where hi = fl64(hi + lo). */
function froundSum(hi: number, lo: number): number {
  const r = fr(hi);
  if (lo === 0 || r === hi || !Number.isFinite(r)) return r;
  const other = nextF32(r, hi);
  if ((r + other) / 2 !== hi) return r;
  return lo > 0 ? Math.max(r, other) : Math.min(r, other);
}

/** float32 fused multiply-add a * b + c, rounded once (a * b must be exact in float64). */
export function fmaF32(a: number, b: number, c: number): number {
  const p = a * b;
  const s = p + c;
  const bb = s - p;
  const err = (p - (s - bb)) + (c - bb);
  return froundSum(s, err);
}

// ------------------------------------------------------------------ small float formats

interface FloatFormat {
  exp: number;
  man: number;
  bias: number;
  /** IEEE-style: the all-ones exponent is inf/NaN (else only S.1111.111 is NaN, as e4m3fn). */
  ieee: boolean;
  nan: number;
}

export const FORMATS: Record<"f16" | "bf16" | "f8e4m3fn" | "f8e5m2", FloatFormat> = {
  f16: { exp: 5, man: 10, bias: 15, ieee: true, nan: 0x7e00 },
  bf16: { exp: 8, man: 7, bias: 127, ieee: true, nan: 0x7fc0 },
  f8e4m3fn: { exp: 4, man: 3, bias: 7, ieee: false, nan: 0x7f },
  f8e5m2: { exp: 5, man: 2, bias: 15, ieee: true, nan: 0x7e },
};
export type SmallFloat = keyof typeof FORMATS;

/** Largest finite value of a format. */
export function maxFinite(f: FloatFormat): number {
  const top = (1 << f.exp) - 1;
  return f.ieee
    ? (2 - 2 ** -f.man) * 2 ** (top - 1 - f.bias)
    : (2 - 2 ** (1 - f.man)) * 2 ** (top - f.bias);
}

/** Value of the bits `bits` of a format. */
export function decodeFloat(bits: number, format: SmallFloat): number {
  const f = FORMATS[format];
  const sign = (bits >> (f.exp + f.man)) & 1 ? -1 : 1;
  const e = (bits >> f.man) & ((1 << f.exp) - 1);
  const m = bits & ((1 << f.man) - 1);
  const top = (1 << f.exp) - 1;
  if (f.ieee && e === top) return m === 0 ? sign * Infinity : NaN;
  if (!f.ieee && e === top && m === (1 << f.man) - 1) return NaN;
  const mag = e === 0 ? m * 2 ** (1 - f.bias - f.man) : (1 + m / 2 ** f.man) * 2 ** (e - f.bias);
  return sign * mag;
}

function exponentOf(a: number): number {
  let e = Math.floor(Math.log2(a));
  while (2 ** e > a) e--;
  while (2 ** (e + 1) <= a) e++;
  return e;
}

/**
 * Bits of `x` (a float32 value) in a format, rounded to nearest even. Overflow becomes inf, or the
 * largest finite value when `saturate` (float8 in tao_cast, which also saturates ±inf). NaN gives
 * the format's canonical NaN (compare NaN-ness only).
 */
export function encodeFloat(x: number, format: SmallFloat, saturate = format.startsWith("f8")): number {
  const f = FORMATS[format];
  const signBit = x < 0 || Object.is(x, -0) ? 1 << (f.exp + f.man) : 0;
  if (Number.isNaN(x)) return f.nan;
  const max = maxFinite(f);
  const maxBits = f.ieee ? ((((1 << f.exp) - 2) << f.man) | ((1 << f.man) - 1)) : 0x7e;
  const infBits = ((1 << f.exp) - 1) << f.man;
  const overflow = () => signBit | (saturate || !f.ieee ? maxBits : infBits);
  const a = Math.abs(x);
  if (a === Infinity) return overflow();
  const emin = 1 - f.bias;
  let e = a === 0 ? emin : Math.max(emin, exponentOf(a));
  let m = rne(a / 2 ** (e - f.man));
  if (m * 2 ** (e - f.man) > max) return overflow();
  if (m === 2 ** (f.man + 1)) {
    m /= 2;
    e += 1;
  }
  if (m < 2 ** f.man) return signBit | m; // subnormal (e === emin)
  return signBit | ((e + f.bias) << f.man) | (m - 2 ** f.man);
}

/** `x` rounded to a float dtype's value (f32 rounding first, as tao's conversions from f64). */
export function roundTo(x: number, dtype: DType): number {
  const v = fr(x);
  if (dtype === "f32") return v;
  if (dtype in FORMATS) return decodeFloat(encodeFloat(v, dtype as SmallFloat), dtype as SmallFloat);
  return v;
}

/** tao_cast float -> integer: truncate toward zero, saturate, NaN -> 0. */
export function castToInt(x: number, lo: number, hi: number): number {
  if (Number.isNaN(x)) return 0;
  return Math.min(Math.max(Math.trunc(x), lo), hi);
}

// ------------------------------------------------------------------ affine quantization reference

export const MAPPING = { SYMMETRIC: 0, SYMMETRIC_NO_CLIPPING_ERR: 1, ASYMMETRIC: 2 } as const;
export const DOMAIN = { INT: 0, FLOAT: 1, NONE: 2 } as const;

export interface RefScheme {
  mapping?: number;
  domain: number;
  preserveZero?: boolean;
  qmin: number;
  qmax: number;
  eps?: number;
  /** Float8 target: quantized values are this format's values (saturating). */
  f8?: "f8e4m3fn" | "f8e5m2";
}

/** Index of each element's block (row-major over the qparam shape ceil(shape / blockSize)). */
export function blockIndex(shape: readonly number[], blockSize: readonly number[]): Int32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const qshape = shape.map((d, i) => Math.ceil(d / blockSize[i]!));
  const out = new Int32Array(n);
  const idx = new Array<number>(shape.length).fill(0);
  for (let e = 0; e < n; e++) {
    let q = 0;
    for (let d = 0; d < shape.length; d++) q = q * qshape[d]! + Math.floor(idx[d]! / blockSize[d]!);
    out[e] = q;
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

const mid = (s: RefScheme) => (s.qmax + s.qmin + 1) / 2;

/**
 * Reference choose_qparams (tao.h, torchao semantics), per block, float32 at each step; the scale
 * is then rounded to `scaleDtype` and a FLOAT zero point to `zpDtype`.
 */
export function refChooseQParams(
  x: ArrayLike<number>,
  blocks: Int32Array,
  nBlocks: number,
  s: RefScheme,
  scaleDtype: DType = "f32",
  zpDtype: DType = "i32",
): { scale: number[]; zeroPoint: number[] | null } {
  const mn = new Array<number>(nBlocks).fill(Infinity), mx = new Array<number>(nBlocks).fill(-Infinity);
  for (let i = 0; i < x.length; i++) {
    const b = blocks[i]!, v = x[i]!;
    mn[b] = Math.min(mn[b]!, v);
    mx[b] = Math.max(mx[b]!, v);
  }
  const scale: number[] = [], zp: number[] = [];
  for (let b = 0; b < nBlocks; b++) {
    let lo = mn[b]!, hi = mx[b]!;
    if (s.preserveZero ?? true) {
      lo = Math.min(lo, 0);
      hi = Math.max(hi, 0);
    }
    let sc: number;
    if (s.mapping === MAPPING.SYMMETRIC) sc = fr(Math.max(-lo, hi) / fr((s.qmax - s.qmin) / 2));
    else if (s.mapping === MAPPING.SYMMETRIC_NO_CLIPPING_ERR) sc = Math.max(fr(lo / s.qmin), fr(hi / s.qmax));
    else sc = fr(fr(hi - lo) / fr(s.qmax - s.qmin));
    sc = Math.max(sc, fr(s.eps ?? 0));
    scale.push(roundTo(sc, scaleDtype));
    if (s.domain === DOMAIN.INT) {
      zp.push(s.mapping === MAPPING.ASYMMETRIC
        ? Math.min(Math.max(s.qmin - rne(fr(lo / sc)), s.qmin), s.qmax)
        : Math.trunc(mid(s))); // torchao's int(); tao.h says floor (differs only below 0)
    } else if (s.domain === DOMAIN.FLOAT) {
      zp.push(roundTo(fr(lo + fr(sc * mid(s))), zpDtype));
    }
  }
  return { scale, zeroPoint: s.domain === DOMAIN.NONE ? null : zp };
}

/** Reference quantize: the quantized value of each element (float8: the format's value). */
export function refQuantize(
  x: ArrayLike<number>,
  blocks: Int32Array,
  scale: readonly number[],
  zeroPoint: readonly number[] | null,
  s: RefScheme,
): number[] {
  const out: number[] = [];
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!, sc = scale[blocks[i]!]!, z = zeroPoint?.[blocks[i]!] ?? 0;
    if (s.f8) {
      out.push(decodeFloat(encodeFloat(fr(v / sc), s.f8, true), s.f8));
      continue;
    }
    let q: number;
    if (s.domain === DOMAIN.FLOAT) q = rne(fr(fr(v - fr(z - fr(sc * mid(s)))) / sc));
    else q = rne(fr(v * fr(1 / sc)));
    if (s.domain === DOMAIN.INT) q = fr(q + z);
    if (Number.isNaN(q)) q = 0;
    out.push(Math.min(Math.max(q, s.qmin), s.qmax));
  }
  return out;
}

/** Reference dequantize into `outputDtype` (FLOAT domain: one fused multiply-add). */
export function refDequantize(
  q: ArrayLike<number>,
  blocks: Int32Array,
  scale: readonly number[],
  zeroPoint: readonly number[] | null,
  s: RefScheme,
  outputDtype: DType = "f32",
): number[] {
  const out: number[] = [];
  for (let i = 0; i < q.length; i++) {
    const v = q[i]!, sc = scale[blocks[i]!]!, z = zeroPoint?.[blocks[i]!] ?? 0;
    let d: number;
    if (s.domain === DOMAIN.FLOAT && !s.f8) d = fmaF32(v - mid(s), sc, z);
    else if (s.domain === DOMAIN.INT && !s.f8) d = fr(fr(v - z) * sc);
    else d = fr(v * sc);
    out.push(roundTo(d, outputDtype));
  }
  return out;
}

// ------------------------------------------------------------------ metrics

/** Signal-to-quantization-noise ratio in dB of `approx` against `ref`. */
export function sqnr(ref: ArrayLike<number>, approx: ArrayLike<number>): number {
  let signal = 0, noise = 0;
  for (let i = 0; i < ref.length; i++) {
    signal += ref[i]! ** 2;
    noise += (ref[i]! - approx[i]!) ** 2;
  }
  return 10 * Math.log10(signal / noise);
}

/** The raw values of a tensor (bits for f16/bf16/f8), read back to the host. */
export function bits(t: Tensor): number[] {
  const host = t.to("cpu");
  try {
    return Array.from(host.hostData());
  } finally {
    if (host !== t) host.dispose();
  }
}

/** Indices where two arrays differ (NaN equals NaN, +0 equals -0 unless `signedZero`). */
export function mismatches(a: ArrayLike<number>, b: ArrayLike<number>, signedZero = false): number[] {
  const bad: number[] = [];
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i], y = b[i];
    const same = x === undefined || y === undefined
      ? false
      : (Number.isNaN(x) && Number.isNaN(y)) || (signedZero ? Object.is(x, y) : x === y);
    if (!same) bad.push(i);
  }
  return bad;
}

/** The TaoError `fn` throws (fails the test if it throws anything else or nothing). */
export function taoError(fn: () => unknown): TaoError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TaoError) return e;
    throw e;
  }
  throw new Error("expected a TaoError, nothing was thrown");
}

// ------------------------------------------------------------------ linear reference

/** Unit roundoff (half an ulp, relative) of the dtypes a linear writes, and half their subnormals' spacing. */
const ROUNDING: Partial<Record<DType, { u: number; tiny: number }>> = {
  f32: { u: 2 ** -24, tiny: 2 ** -150 }, f16: { u: 2 ** -11, tiny: 2 ** -25 }, bf16: { u: 2 ** -8, tiny: 2 ** -134 },
};

/**
 * Float64 y = x·wᵀ + bias for x [M, K], w [N, K] (row-major values) and bias [N] or null, with each
 * output's mag = Σ|x·w| + |bias|, the scale of its summation error.
 */
export function refLinear(
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  bias: ArrayLike<number> | null,
  k: number,
): { ref: Float64Array; mag: Float64Array } {
  const m = x.length / k, n = w.length / k;
  const ref = new Float64Array(m * n), mag = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = bias ? bias[j]! : 0, abs = Math.abs(sum);
      for (let t = 0; t < k; t++) {
        const p = x[i * k + t]! * w[j * k + t]!;
        sum += p;
        abs += Math.abs(p);
      }
      ref[i * n + j] = sum;
      mag[i * n + j] = abs;
    }
  }
  return { ref, mag };
}

/**
 * How far a linear kernel's output may lie from refLinear's, derived for kernels that multiply
 * bf16/f16 x by weights of at most 11 significant bits (products exact in f32), sum the K products
 * in f32 in any order, then scale and add the bias in f32 and round once to the output dtype:
 *   - each of the K - 1 adds, the scale multiply and the bias add errs by at most 2^-23 relative
 *     (2^-24 when rounding to nearest; 2^-23 also covers truncating adders such as tensor cores'), so
 *     the f32 result is within (K + 1)·2^-23·mag of ref (first order, Higham's γ bound);
 *   - rounding to the output dtype adds u·|result|, u = 2^-8 (bf16) or 2^-11 (f16) relative, or,
 *     below the dtype's normal range, half the subnormal spacing (2^-25 for f16).
 * tol = u·|ref| + tiny + (1 + u)·(K + 2)·2^-23·mag (K + 2 absorbs the second-order terms).
 */
export function linearTolerance(ref: number, mag: number, k: number, dtype: DType): number {
  const { u, tiny } = ROUNDING[dtype]!;
  return u * Math.abs(ref) + tiny + (1 + u) * (k + 2) * 2 ** -23 * mag;
}

/** Outputs y [M·N] farther than linearTolerance from refLinear's, as "index: got vs want (tol)" (NaN never fits). */
export function linearMisses(
  y: ArrayLike<number>,
  { ref, mag }: { ref: Float64Array; mag: Float64Array },
  k: number,
  dtype: DType,
): string[] {
  const bad: string[] = [];
  if (y.length !== ref.length) return [`${y.length} outputs, expected ${ref.length}`];
  for (let i = 0; i < ref.length; i++) {
    const tol = linearTolerance(ref[i]!, mag[i]!, k, dtype);
    if (!(Math.abs(y[i]! - ref[i]!) <= tol)) bad.push(`${i}: ${y[i]} vs ${ref[i]} (tol ${tol})`);
  }
  return bad.length > 8 ? [...bad.slice(0, 8), `... ${bad.length} in all`] : bad;
}

/** First index where two kernels' outputs differ by more than twice linearTolerance of the reference, or -1. */
export function disagreement(a: ArrayLike<number>, b: ArrayLike<number>, { ref, mag }: { ref: Float64Array; mag: Float64Array }, k: number, dtype: DType): number {
  for (let i = 0; i < ref.length; i++) {
    if (!(Math.abs(a[i]! - b[i]!) <= 2 * linearTolerance(ref[i]!, mag[i]!, k, dtype))) return i;
  }
  return -1;
}

/**
 * Runs a linear kernel `op(x, bias, { out })` on x [m, K] and, for odd m, bias [N] drawn from `seed`
 * in `dtype` on `device`, with out [m, N] pre-filled with NaN so that every output must be written.
 * Returns the host values of x, bias and y.
 */
export function poisonedLinear(
  op: (x: Tensor, bias: Tensor | null, opts: { out: Tensor }) => Tensor,
  o: { device: string; seed: number; m: number; n: number; k: number; dtype: DType },
): { x: Float32Array; bias: Float32Array | null; y: Float32Array } {
  using x = randn([o.m, o.k], { dtype: o.dtype, device: o.device, seed: o.seed });
  using bias = o.m % 2 ? randn([o.n], { dtype: o.dtype, device: o.device, seed: o.seed + 1 }) : null;
  using out = full([o.m, o.n], NaN, { dtype: o.dtype, device: o.device });
  if (op(x, bias, { out }) !== out) throw new Error("the kernel did not return opts.out");
  return { x: x.toArray() as Float32Array, bias: (bias?.toArray() as Float32Array) ?? null, y: out.toArray() as Float32Array };
}

/**
 * Whether the weight-only kernels round the dequantized weight to the activation dtype for x with
 * m rows on `device`: CUDA rounds it for m > 32, and the int4 kernel (`int4`) on Hopper already for
 * m > 16; every other case keeps the weight in f32 (include/tao.h, tao_linear_int4_tensor_core_tiled /
 * tao_linear_int8_weight_only).
 */
export function weightOnlyRoundsWeight(device: string, m: number, int4 = false): boolean {
  if (!device.startsWith("cuda")) return false;
  const hopper = capabilities().cuda.devices[Number(device.split(":")[1] ?? 0)]?.sm === 90;
  return m > 32 || (m > 16 && hopper && int4);
}

/**
 * The weight values [N·K] each kernel entry of the quantized-linear table multiplies x (of `dtype`)
 * by, from the weight's plain form, as include/tao.h documents: the int4 kernel (q − 8)·scale + zero
 * through one f32 fused multiply-add, or (rounded) tinygemm's bf16 value, then rounded to dtype; the
 * int8 kernel q·dtype(scale) (zero point 0, as its condition requires; exact in f32), or (rounded)
 * that rounded to dtype.
 */
function kernelWeight(entry: string, w: AffineQuantizedTensor, dtype: DType, rounded: boolean): number[] {
  const plain = w.getPlain();
  try {
    const q = plain.data.toArray(), scale = Array.from(plain.scale.toArray());
    const blocks = blockIndex(w.shape, w.params.blockSize);
    const range = { qmin: w.params.quantMin, qmax: w.params.quantMax };
    switch (entry) {
      case "tensor_core_tiled: fused int4 kernel": {
        const z = Array.from(plain.zeroPoint!.toArray());
        if (!rounded) return refDequantize(q, blocks, scale, z, { domain: DOMAIN.FLOAT, ...range });
        return refDequantize(q, blocks, scale, z, { domain: DOMAIN.FLOAT, ...range }, "bf16").map((v) => roundTo(v, dtype));
      }
      case "plain: int8 weight-only kernel": {
        const values = refDequantize(q, blocks, scale.map((s) => roundTo(s, dtype)), null, { domain: DOMAIN.NONE, ...range });
        return rounded ? values.map((v) => roundTo(v, dtype)) : values;
      }
      default:
        throw new Error(`no reference weight for the kernel entry ${JSON.stringify(entry)}`);
    }
  } finally {
    disposePlain(plain);
  }
}

/**
 * What y = linear(x, w, bias) misses of the entry dispatch runs for x: a kernel entry's y must lie
 * within linearTolerance of the float64 product with that kernel's weight; a fallback's must equal
 * dense linear with `dense` (default w.dequantize(x.dtype)) bit for bit. Empty when y is right.
 */
export function quantizedLinearMisses(
  x: Tensor,
  w: AffineQuantizedTensor,
  bias: Tensor | null,
  y: Tensor,
  dense?: Tensor,
): (number | string)[] {
  const entry = quantizedLinearImpl(x, w, bias);
  if (entry.priority === QuantizedLinearPriority.FALLBACK) {
    using own = dense ? null : w.dequantize(x.dtype);
    using want = linear(x, dense ?? own!, bias);
    return mismatches(bits(y), bits(want));
  }
  const k = w.shape[1]!;
  const int4 = entry.name === "tensor_core_tiled: fused int4 kernel";
  const rounded = weightOnlyRoundsWeight(x.device, x.numel / k, int4);
  const ref = refLinear(x.toArray(), kernelWeight(entry.name, w, x.dtype, rounded), bias?.toArray() ?? null, k);
  return linearMisses(y.toArray(), ref, k, x.dtype);
}
