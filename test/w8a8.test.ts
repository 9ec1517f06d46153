// W8A8 int8 ops against float64 references written from include/tao.h, on every device present.
// quantizeRowsInt8: q and scale bit-exact (the f32 steps of tao_quantize_rows_int8), for f32, f16 and
// bf16 x, with and without SmoothQuant's 1/s, M = 1, odd K, all-zero rows (scale 1e-5, q 0, no NaN)
// and rows holding ±inf or NaN (q 0, scale inf or NaN). linearInt8Int8: the exact int32 sum times
// the scales matches the documented f32 epilogue bit for bit and the float64 value within the output
// rounding (half an ulp of bf16/f16, a few f32 ulps for f32); M = 1, odd N and K (K % 4 != 0 takes
// CUDA's padded path), any int8 values (-128 included). CUDA gives the CPU's bits. Bad inputs are TaoErrors.
import { describe, expect, test } from "bun:test";
import { fromArray, linearInt8Int8, quantizeRowsInt8, type DType, type Tensor } from "../lib/index.ts";
import { devices, freshSeed, hasCuda, noCudaReason, normals, rne, rng, roundTo, taoError } from "./helpers.ts";

if (!hasCuda) console.log(`w8a8.test.ts: cuda:0 cases skipped: ${noCudaReason}`);

const fr = Math.fround;
const EPS = fr(1e-5);

/** tao_quantize_rows_int8's reference: q and scale of each row of x (values already of x's dtype). */
function refQuantize(x: ArrayLike<number>, m: number, k: number, smooth: ArrayLike<number> | null) {
  const q = new Int8Array(m * k), scale = new Float32Array(m);
  const inv = smooth ? Array.from(smooth, (s) => fr(1 / s)) : null;
  for (let i = 0; i < m; i++) {
    const v = Array.from({ length: k }, (_, j) => (inv ? fr(x[i * k + j]! * inv[j]!) : x[i * k + j]!));
    let amax = 0;
    for (const f of v) amax = Number.isNaN(amax) || Number.isNaN(f) ? NaN : Math.max(amax, Math.abs(f));
    let s = fr(amax / 127);
    if (s < EPS) s = EPS;
    const is = fr(1 / s);
    scale[i] = s;
    for (let j = 0; j < k; j++) {
      const t = rne(fr(v[j]! * is));
      q[i * k + j] = Number.isNaN(t) ? 0 : Math.min(127, Math.max(-127, t));
    }
  }
  return { q, scale };
}

/** x [m, k] of `dtype` from `seed` with outlier channels; `special` rows: "zero", "inf", "-inf", "nan". */
function activations(seed: number, m: number, k: number, dtype: DType, device: string, special: Record<number, string> = {}) {
  const next = rng(seed);
  const v = normals(next, m * k);
  for (let j = 0; j < k; j += 7) for (let i = 0; i < m; i++) v[i * k + j]! *= 30; // outlier channels
  for (const [row, kind] of Object.entries(special)) {
    const i = Number(row);
    for (let j = 0; j < k; j++) if (kind === "zero") v[i * k + j] = 0;
    const at = i * k + Math.floor(next() * k);
    if (kind === "inf") v[at] = Infinity;
    if (kind === "-inf") v[at] = -Infinity;
    if (kind === "nan") v[at] = NaN;
  }
  const x = fromArray(v, { shape: [m, k], dtype, device });
  return { x, values: x.toArray() as Float32Array };
}

const QSHAPES = [[1, 1], [1, 77], [3, 333], [7, 64], [5, 4100], [2, 9000]] as const;
const XDTYPES: DType[] = ["f32", "f16", "bf16"];

describe("quantizeRowsInt8", () => {
  for (const device of devices) {
    const seed = freshSeed();
    test(`q and scale bit-exact, smooth or not, every dtype (${device}, seed ${seed})`, () => {
      for (const [m, k] of QSHAPES) {
        for (const dtype of XDTYPES) {
          for (const withSmooth of [false, true]) {
            const { x, values } = activations(seed + m * 31 + k, m, k, dtype, device);
            const next = rng(seed + 5);
            const sv = Float32Array.from({ length: k }, () => fr(0.25 + 4 * next()));
            using s = fromArray(sv, { device });
            const { q, scale } = quantizeRowsInt8(x, { smooth: withSmooth ? s : null });
            const ref = refQuantize(values, m, k, withSmooth ? sv : null);
            expect({ m, k, dtype, withSmooth, shape: q.shape, sshape: scale.shape }).toEqual({ m, k, dtype, withSmooth, shape: [m, k], sshape: [m] });
            expect(Array.from(scale.toArray())).toEqual(Array.from(ref.scale));
            const got = q.toArray() as Int8Array;
            const bad = got.findIndex((v, i) => v !== ref.q[i]);
            expect({ m, k, dtype, withSmooth, bad }).toEqual({ m, k, dtype, withSmooth, bad: -1 });
            x.dispose(), q.dispose(), scale.dispose();
          }
        }
      }
    });

    test(`zero rows: scale 1e-5, q 0, no NaN; inf/NaN rows: q 0, scale inf/NaN (${device})`, () => {
      for (const dtype of XDTYPES) {
        const { x, values } = activations(seed, 5, 333, dtype, device, { 0: "zero", 1: "inf", 2: "-inf", 3: "nan" });
        const { q, scale } = quantizeRowsInt8(x);
        const s = Array.from(scale.toArray()), qv = q.toArray() as Int8Array;
        expect(s.slice(0, 4)).toEqual([EPS, Infinity, Infinity, NaN]);
        expect(Number.isFinite(s[4]!)).toBe(true);
        expect(Array.from(qv.subarray(0, 4 * 333)).every((v) => v === 0)).toBe(true);
        const ref = refQuantize(values, 5, 333, null);
        expect(Array.from(qv)).toEqual(Array.from(ref.q));
        x.dispose(), q.dispose(), scale.dispose();
      }
    });
  }

  const seed = freshSeed();
  test.skipIf(!hasCuda)(`cuda:0 gives the CPU's bits (seed ${seed})${hasCuda ? "" : ` (skipped: ${noCudaReason})`}`, () => {
    for (const [m, k] of [[3, 333], [16, 4096], [4, 20000]] as const) {
      for (const dtype of XDTYPES) {
        const c = activations(seed + k, m, k, dtype, "cpu", { 1: "nan" }), g = activations(seed + k, m, k, dtype, "cuda:0", { 1: "nan" });
        const rc = quantizeRowsInt8(c.x), rg = quantizeRowsInt8(g.x);
        expect(Array.from(rg.q.toArray())).toEqual(Array.from(rc.q.toArray()));
        expect(Array.from(rg.scale.toArray())).toEqual(Array.from(rc.scale.toArray()));
        for (const t of [c.x, g.x, rc.q, rc.scale, rg.q, rg.scale]) t.dispose();
      }
    }
  });
});

// ------------------------------------------------------------------ linear

/** Random int8 operands and f32 scales (identical for a seed on every device). */
function operands(seed: number, m: number, n: number, k: number, dtype: DType, device: string, withBias: boolean) {
  const next = rng(seed);
  const xv = Int8Array.from({ length: m * k }, () => Math.floor(next() * 256) - 128);
  const wv = Int8Array.from({ length: n * k }, () => Math.floor(next() * 256) - 128);
  const xs = Float32Array.from({ length: m }, () => fr(1e-3 + 0.05 * next()));
  const ws = Float32Array.from({ length: n }, () => fr(1e-3 + 0.02 * next()));
  const bv = Float32Array.from({ length: n }, () => roundTo(4 * next() - 2, dtype));
  const t = {
    xq: fromArray(xv, { shape: [m, k], device }), xscale: fromArray(xs, { device }),
    wq: fromArray(wv, { shape: [n, k], device }), wscale: fromArray(ws, { device }),
    bias: withBias ? fromArray(bv, { dtype, device }) : null,
  };
  const dispose = () => [t.xq, t.xscale, t.wq, t.wscale, t.bias].forEach((x) => x?.dispose());
  return { ...t, xv, wv, xs, ws, bv: withBias ? bv : null, dispose };
}

/** The documented epilogue's bits and the float64 value, per output. */
function refLinear(o: ReturnType<typeof operands>, m: number, n: number, k: number, dtype: DType) {
  const steps = new Float64Array(m * n), exact = new Float64Array(m * n), size = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let t = 0; t < k; t++) acc += o.xv[i * k + t]! * o.wv[j * k + t]!;
      let v = fr(fr(acc) * fr(o.xs[i]! * o.ws[j]!));
      if (o.bv) v = fr(v + o.bv[j]!);
      steps[i * n + j] = roundTo(v, dtype);
      exact[i * n + j] = acc * o.xs[i]! * o.ws[j]! + (o.bv ? o.bv[j]! : 0);
      size[i * n + j] = Math.abs(acc * o.xs[i]! * o.ws[j]!) + (o.bv ? Math.abs(o.bv[j]!) : 0);
    }
  }
  return { steps, exact, size };
}

/** Half an ulp of `dtype` at |v| (subnormal spacing below), plus 4 f32 ulps of the terms' size for the f32 steps. */
function tolerance(v: number, size: number, dtype: DType): number {
  const man = dtype === "bf16" ? 7 : dtype === "f16" ? 10 : 23, minExp = dtype === "f16" ? -14 : -126;
  const e = Math.max(Math.floor(Math.log2(Math.max(Math.abs(v), 2 ** minExp))), minExp);
  return 2 ** (e - man - 1) + 4 * 2 ** -24 * size;
}

const LSHAPES = [[1, 7, 5], [1, 64, 4096], [3, 33, 77], [17, 40, 333], [64, 96, 256], [5, 8, 4], [2, 3, 130], [300, 260, 1000]] as const;
const YDTYPES: DType[] = ["bf16", "f16", "f32"];

describe("linearInt8Int8", () => {
  for (const device of devices) {
    const seed = freshSeed();
    test(`exact int32 sums, documented epilogue bit for bit, float64 within output rounding (${device}, seed ${seed})`, () => {
      for (const [m, n, k] of LSHAPES) {
        for (const dtype of YDTYPES) {
          for (const withBias of [false, true]) {
            const o = operands(seed + m + n + k, m, n, k, dtype, device, withBias);
            using y = linearInt8Int8(o.xq, o.xscale, o.wq, o.wscale, o.bias, { dtype });
            expect(y.dtype).toBe(dtype);
            const got = y.toArray() as Float32Array;
            const ref = refLinear(o, m, n, k, dtype);
            const notSteps = got.findIndex((v, i) => !Object.is(v, ref.steps[i]));
            const far = got.findIndex((v, i) => !(Math.abs(v - ref.exact[i]!) <= tolerance(ref.exact[i]!, ref.size[i]!, dtype)));
            expect({ m, n, k, dtype, withBias, notSteps, far }).toEqual({ m, n, k, dtype, withBias, notSteps: -1, far: -1 });
            o.dispose();
          }
        }
      }
    });

    test(`quantize → linear: zero rows stay finite, inf/NaN rows give NaN rows (${device})`, () => {
      const { x } = activations(7, 4, 96, "bf16", device, { 0: "zero", 1: "inf", 2: "nan" });
      const o = operands(9, 4, 24, 96, "bf16", device, true);
      const { q, scale } = quantizeRowsInt8(x);
      using y = linearInt8Int8(q, scale, o.wq, o.wscale, o.bias);
      const v = y.toArray() as Float32Array;
      expect(Array.from(v.subarray(0, 24))).toEqual(Array.from(o.bv!)); // 0 · scales + bias
      expect(Array.from(v.subarray(24, 72)).every(Number.isNaN)).toBe(true);
      expect(Array.from(v.subarray(72)).every(Number.isFinite)).toBe(true);
      x.dispose(), q.dispose(), scale.dispose(), o.dispose();
    });

    test(`out, leading dims and bad inputs (${device})`, () => {
      const o = operands(3, 6, 16, 77, "bf16", device, true);
      using x3 = o.xq.reshape(2, 3, 77);
      using xs2 = o.xscale.reshape(2, 3);
      using out = fromArray(new Float32Array(96).fill(NaN), { shape: [2, 3, 16], dtype: "bf16", device });
      expect(linearInt8Int8(x3, xs2, o.wq, o.wscale, o.bias, { out })).toBe(out);
      using flat = linearInt8Int8(o.xq, o.xscale, o.wq, o.wscale, o.bias);
      expect(Array.from(out.toArray())).toEqual(Array.from(flat.toArray()));

      using f = fromArray(new Float32Array(6 * 77), { shape: [6, 77], device });
      using s16 = fromArray(new Float32Array(16), { dtype: "bf16", device });
      using s5 = fromArray(new Float32Array(5), { device });
      using b8 = fromArray(new Float32Array(8), { dtype: "bf16", device });
      using bf = fromArray(new Float32Array(16), { device });
      const lin = (...a: Parameters<typeof linearInt8Int8>) => taoError(() => linearInt8Int8(...a)).message;
      expect(lin(f, o.xscale, o.wq, o.wscale)).toMatch(/xq must be i8 \[\.\.\., K\], not f32 \[6,77\]/);
      expect(lin(o.xq, o.xscale, f, o.wscale)).toMatch(/wq must be i8 \[N, K\], not f32/);
      expect(lin(o.xq, s5, o.wq, o.wscale)).toMatch(/xscale must be f32 \[6\]/);
      expect(lin(o.xq, o.xscale, o.wq, s16)).toMatch(/wscale must be f32 \[16\], not bf16 \[16\]/);
      expect(lin(o.xq, o.xscale, o.wq, o.wscale, b8)).toMatch(/bias must be \[16\], not \[8\]/);
      expect(lin(o.xq, o.xscale, o.wq, o.wscale, bf, { dtype: "bf16" })).toMatch(/bias is f32 but the output dtype is bf16/);
      expect(lin(o.xq, o.xscale, o.wq, o.wscale, null, { dtype: "i8" })).toMatch(/dtype i8: linearInt8Int8 writes bf16, f16, f32/);
      using wk = fromArray(new Int8Array(16 * 78), { shape: [16, 78], device });
      expect(lin(o.xq, o.xscale, wk, o.wscale)).toMatch(/must end in K = 78/);
      // The C entry point's own check: K beyond what int32 sums can hold.
      const big = 131073;
      using xb = fromArray(new Int8Array(big), { shape: [1, big], device }), wb = fromArray(new Int8Array(big), { shape: [1, big], device });
      using one = fromArray(new Float32Array([1]), { device });
      const e = taoError(() => linearInt8Int8(xb, one, wb, one, null, { dtype: "f32" }));
      expect([e.codeName, e.message]).toEqual(["INVALID_ARGUMENT", expect.stringMatching(/k=131073: at most 131072/)]);

      expect(taoError(() => quantizeRowsInt8(o.xq)).message).toMatch(/x is i8; quantizeRowsInt8 takes f32, f16, bf16/);
      using xf = fromArray(new Float32Array(6 * 77), { shape: [6, 77], device });
      expect(taoError(() => quantizeRowsInt8(xf, { smooth: s16 })).message).toMatch(/smooth must be f32 \[77\], not bf16 \[16\]/);
      using gone = xf.clone();
      gone.dispose();
      expect(taoError(() => quantizeRowsInt8(gone)).message).toMatch(/x was disposed/);
      o.dispose();
    });
  }

  const seed = freshSeed();
  test.skipIf(!hasCuda)(`cuda:0 gives the CPU's bits (seed ${seed})${hasCuda ? "" : ` (skipped: ${noCudaReason})`}`, () => {
    for (const [m, n, k] of [...LSHAPES, [256, 1024, 4096], [33, 100, 4101]] as const) {
      for (const dtype of YDTYPES) {
        const c = operands(seed + k, m, n, k, dtype, "cpu", true), g = operands(seed + k, m, n, k, dtype, "cuda:0", true);
        using yc = linearInt8Int8(c.xq, c.xscale, c.wq, c.wscale, c.bias, { dtype });
        using yg = linearInt8Int8(g.xq, g.xscale, g.wq, g.wscale, g.bias, { dtype });
        const a = yc.toArray(), b = yg.toArray();
        const bad = a.findIndex((v, i) => !Object.is(v, b[i]));
        expect({ m, n, k, dtype, bad }).toEqual({ m, n, k, dtype, bad: -1 });
        c.dispose(), g.dispose();
      }
    }
  });

  test.skipIf(!hasCuda)(`tensors on the CPU and cuda:0: DEVICE_MISMATCH${hasCuda ? "" : ` (skipped: ${noCudaReason})`}`, () => {
    const c = operands(1, 2, 8, 16, "bf16", "cpu", false), g = operands(1, 2, 8, 16, "bf16", "cuda:0", false);
    expect(taoError(() => linearInt8Int8(c.xq, c.xscale, g.wq, g.wscale)).codeName).toBe("DEVICE_MISMATCH");
    expect(taoError(() => linearInt8Int8(g.xq, g.xscale, g.wq, c.wscale)).codeName).toBe("DEVICE_MISMATCH");
    c.dispose(), g.dispose();
  });
});
