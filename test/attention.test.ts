// attention (prefill and decode over a static KV cache, GQA, causal with offsets) on every device
// against a float64 reference, also reading q in place from a fused q|k|v output; kvAppend (also of
// the k and v heads of a fused output) / incrementPosition, a captured CUDA decode step replayed
// against eager launches, and bad inputs.
import { describe, expect, test } from "bun:test";
import {
  ATTENTION_ARGS_WORDS, attention, fromArray, full, incrementPosition, kvAppend, native, randn, rope, zeros, type DType, type Tensor,
} from "../lib/index.ts";
import { bits, devices, freshSeed, hasCuda, mismatches, noCudaReason, taoError } from "./helpers.ts";
import { misses, refAttention, type AttnCase } from "./llama_refs.ts";

const seed = freshSeed();
const DTYPES: DType[] = ["f32", "f16", "bf16"];
const cudaTest = hasCuda ? test : test.skip;
if (!hasCuda) console.log(`CUDA attention tests skipped: ${noCudaReason}`);

// p0 = position of query 0; `viaBuffer` sends part of it through a position buffer.
const CASES: (AttnCase & { viaBuffer?: boolean })[] = [
  { b: 1, t: 1, hq: 1, hkv: 1, dh: 8, cap: 1, kvLen: 1, causal: true, p0: 0 },
  { b: 2, t: 1, hq: 8, hkv: 2, dh: 64, cap: 300, kvLen: 300, causal: true, p0: 137, viaBuffer: true },
  { b: 1, t: 1, hq: 32, hkv: 8, dh: 128, cap: 2048, kvLen: 2048, causal: true, p0: 2047, viaBuffer: true },
  { b: 3, t: 1, hq: 4, hkv: 4, dh: 128, cap: 513, kvLen: 513, causal: false, p0: 0 },
  { b: 3, t: 37, hq: 4, hkv: 4, dh: 64, cap: 37, kvLen: 37, causal: true, p0: 0 },
  { b: 1, t: 50, hq: 8, hkv: 2, dh: 128, cap: 80, kvLen: 70, causal: true, p0: 20, viaBuffer: true },
  { b: 2, t: 9, hq: 6, hkv: 3, dh: 8, cap: 33, kvLen: 33, causal: false, p0: 0 },
  { b: 1, t: 3, hq: 8, hkv: 2, dh: 40, cap: 100, kvLen: 100, causal: true, p0: 97 },
  { b: 1, t: 70, hq: 2, hkv: 1, dh: 256, cap: 70, kvLen: 70, causal: true, p0: 0 },
  { b: 1, t: 1, hq: 64, hkv: 1, dh: 16, cap: 40, kvLen: 40, causal: true, p0: 39 },
  { b: 1, t: 4, hq: 4, hkv: 2, dh: 8, cap: 8, kvLen: 8, causal: true, p0: 1 },
];
const name = (c: AttnCase) => `b${c.b} t${c.t} hq${c.hq} hkv${c.hkv} dh${c.dh} S${c.kvLen}/${c.cap} ${c.causal ? "causal" : "full"} p0=${c.p0}`;

/** q, k, v of a case, drawn from the seed (the same values on every device). */
function inputs(c: AttnCase, dtype: DType, device: string, s: number): [Tensor, Tensor, Tensor] {
  return [
    randn([c.b, c.t, c.hq, c.dh], { dtype, device, seed: s }),
    randn([c.b, c.cap, c.hkv, c.dh], { dtype, device, seed: s + 1 }),
    randn([c.b, c.cap, c.hkv, c.dh], { dtype, device, seed: s + 2 }),
  ];
}

describe(`attention vs float64 (seed ${seed})`, () => {
  const rows = devices.flatMap((device) => DTYPES.flatMap((dtype) => CASES.map((c) => ({ device, dtype, c, label: name(c) }))));
  test.each(rows)("$device $dtype $label", ({ device, dtype, c }) => {
    const [q, k, v] = inputs(c, dtype, device, seed + c.t + c.cap);
    using _q = q, _k = k, _v = v;
    using position = c.viaBuffer ? fromArray(new Int32Array([c.p0 - 1]), { device }) : undefined;
    const scale = 1 / Math.sqrt(c.dh);
    using out = full(q.shape as number[], NaN, { dtype, device });
    attention(q, k, v, { causal: c.causal, kvLen: c.kvLen, qOffset: c.viaBuffer ? 1 : c.p0, position, out });
    const { ref, tol } = refAttention(q.toArray(), k.toArray(), v.toArray(), c, scale, dtype);
    expect(misses(out.toArray(), ref, tol)).toEqual([]);
  });

  // q as the first Hq heads of a fused q|k|v output [B, T, Hq + 2·Hkv, Dh] (token rows strided), prefill and decode.
  const fusedRows = devices.flatMap((device) => DTYPES.flatMap((dtype) => CASES.filter((c) => c.cap < 1000).map((c) => ({ device, dtype, c, label: name(c) }))));
  test.each(fusedRows)("$device $dtype fused q heads: $label", ({ device, dtype, c }) => {
    const [, k, v] = inputs(c, dtype, device, seed + c.t + c.cap);
    using _k = k, _v = v;
    using qkv = randn([c.b, c.t, c.hq + 2 * c.hkv, c.dh], { dtype, device, seed: seed + 3 });
    using q = qkv.slice(2, 0, c.hq);
    using position = c.viaBuffer ? fromArray(new Int32Array([c.p0 - 1]), { device }) : undefined;
    const opts = { causal: c.causal, kvLen: c.kvLen, qOffset: c.viaBuffer ? 1 : c.p0, position };
    using out = full(q.shape as number[], NaN, { dtype, device });
    attention(qkv, k, v, { ...opts, heads: c.hq, out });
    const { ref, tol } = refAttention(q.toArray(), k.toArray(), v.toArray(), c, 1 / Math.sqrt(c.dh), dtype);
    expect(misses(out.toArray(), ref, tol)).toEqual([]);
    using dense = attention(q, k, v, opts);
    expect(mismatches(bits(out), bits(dense))).toEqual([]);
  });

  test("tao_attention_args is ATTENTION_ARGS_WORDS eight-byte words", () => {
    const size = new BigInt64Array(1);
    expect(native.tao_attention_args_size(size)).toBe(0);
    expect(Number(size[0])).toBe(ATTENTION_ARGS_WORDS * 8);
  });
});

describe(`kvAppend and incrementPosition (seed ${seed})`, () => {
  test.each(devices)("%s: rows p..p+T-1 of the caches, nothing else", (device) => {
    for (const dtype of DTYPES) {
      const [b, t, h, dh, cap, p] = [2, 3, 2, 8, 10, 4];
      using k = randn([b, t, h, dh], { dtype, device, seed }), v = randn([b, t, h, dh], { dtype, device, seed: seed + 1 });
      using kc = zeros([b, cap, h, dh], { dtype, device }), vc = zeros([b, cap, h, dh], { dtype, device });
      using position = fromArray(new Int32Array([p - 1]), { device });
      kvAppend(k, v, kc, vc, { position, offset: 1 });
      for (const [src, cache] of [[k, kc], [v, vc]] as const) {
        const s = bits(src), cb = bits(cache), row = h * dh;
        const want = new Array(cb.length).fill(0);
        for (let bi = 0; bi < b; bi++) for (let ti = 0; ti < t; ti++) for (let j = 0; j < row; j++) want[((bi * cap + p + ti) * row) + j] = s[(bi * t + ti) * row + j];
        expect(mismatches(cb, want)).toEqual([]);
      }
      expect(Array.from(incrementPosition(position, 5).toArray())).toEqual([p + 4]);
    }
  });

  test.each(devices)("%s: k and v heads of a fused q|k|v output, T > 1 (strided token rows)", (device) => {
    for (const dtype of DTYPES) {
      for (const [b, t, hq, hkv, dh] of [[2, 3, 4, 2, 8], [1, 5, 8, 1, 64], [1, 1, 2, 2, 6]] as const) {
        const cap = 12, p = 2, heads = hq + 2 * hkv;
        using qkv = randn([b, t, heads, dh], { dtype, device, seed: seed + t });
        using kc = zeros([b, cap, hkv, dh], { dtype, device }), vc = zeros([b, cap, hkv, dh], { dtype, device });
        using position = fromArray(new Int32Array([p]), { device });
        kvAppend(qkv, qkv, kc, vc, { position, kHead: hq, vHead: hq + hkv });
        for (const [first, cache] of [[hq, kc], [hq + hkv, vc]] as const) {
          const s = bits(qkv), cb = bits(cache), row = hkv * dh;
          const want = new Array(cb.length).fill(0);
          for (let bi = 0; bi < b; bi++) {
            for (let ti = 0; ti < t; ti++) {
              for (let j = 0; j < row; j++) want[(bi * cap + p + ti) * row + j] = s[((bi * t + ti) * heads + first) * dh + j];
            }
          }
          expect(mismatches(cb, want)).toEqual([]);
        }
      }
    }
  });

  test("CPU: a range outside the cache is a TaoError", () => {
    using k = randn([1, 3, 1, 8], { seed }), kc = zeros([1, 4, 1, 8]);
    using position = fromArray(new Int32Array([2]));
    expect(taoError(() => kvAppend(k, k, kc, kc, { position })).message).toContain("outside the cache");
  });

  cudaTest("CUDA: rows outside the cache are not written", () => {
    using k = randn([1, 3, 1, 8], { seed, device: "cuda:0" }), kc = zeros([1, 4, 1, 8], { device: "cuda:0" });
    using vc = zeros([1, 4, 1, 8], { device: "cuda:0" });
    using position = fromArray(new Int32Array([2]), { device: "cuda:0" });
    kvAppend(k, k, kc, vc, { position });
    const got = kc.toArray(), src = k.toArray();
    expect(Array.from(got.slice(16, 32))).toEqual(Array.from(src.slice(0, 16)));
    expect(Array.from(got.slice(0, 16))).toEqual(new Array(16).fill(0));
  });
});

describe(`a captured CUDA decode step (seed ${seed})`, () => {
  cudaTest("rope + kvAppend + attention + incrementPosition, replayed 6 times, equals eager launches bit for bit", () => {
    const device = "cuda:0", dtype: DType = "bf16";
    const [b, hq, hkv, dh, cap, start] = [2, 8, 2, 64, 96, 40];
    const make = () => ({
      kc: randn([b, cap, hkv, dh], { dtype, device, seed: seed + 10 }),
      vc: randn([b, cap, hkv, dh], { dtype, device, seed: seed + 11 }),
      pos: fromArray(new Int32Array([start]), { device }),
      q: zeros([b, 1, hq, dh], { dtype, device }), k: zeros([b, 1, hkv, dh], { dtype, device }), v: zeros([b, 1, hkv, dh], { dtype, device }),
      qr: zeros([b, 1, hq, dh], { dtype, device }), kr: zeros([b, 1, hkv, dh], { dtype, device }), out: zeros([b, 1, hq, dh], { dtype, device }),
    });
    const step = (s: ReturnType<typeof make>) => {
      rope(s.q, { position: s.pos, theta: 500000, out: s.qr });
      rope(s.k, { position: s.pos, theta: 500000, out: s.kr });
      kvAppend(s.kr, s.v, s.kc, s.vc, { position: s.pos });
      attention(s.qr, s.kc, s.vc, { position: s.pos, out: s.out });
      incrementPosition(s.pos);
    };
    const graphed = make(), eager = make();
    const ctx = graphed.q.context;
    using graph = ctx.captureGraph(() => step(graphed));
    for (let i = 0; i < 6; i++) {
      for (const [key, n] of [["q", hq], ["k", hkv], ["v", hkv]] as const) {
        using fresh = randn([b, 1, n, dh], { dtype, device, seed: seed + 100 * i + n + key.length });
        graphed[key].copyFrom(fresh);
        eager[key].copyFrom(fresh);
      }
      graph.launch();
      step(eager);
      expect(mismatches(bits(graphed.out), bits(eager.out))).toEqual([]);
    }
    expect(Array.from(graphed.pos.toArray())).toEqual([start + 6]);
    expect(mismatches(bits(graphed.kc), bits(eager.kc))).toEqual([]);
    for (const s of [graphed, eager]) for (const t of Object.values(s)) t.dispose();
  });
});

describe("attention: bad inputs are TaoErrors", () => {
  test("shapes, dtypes, options", () => {
    using q = randn([1, 2, 4, 8], { seed }), k = randn([1, 5, 2, 8], { seed });
    const cases: [() => unknown, string][] = [
      [() => attention(q, k, randn([1, 5, 2, 4], { seed })), "alike"],
      [() => attention(q, randn([1, 5, 3, 8], { seed }), randn([1, 5, 3, 8], { seed })), "multiple"],
      [() => attention(q, k, k, { kvLen: 6 }), "kvLen"],
      [() => attention(q, k, k, { kvLen: 0 }), "kvLen"],
      [() => attention(q, k.cast("f16"), k), "dtype"],
      [() => attention(q.reshape(2, 4, 8), k, k), "4-D"],
      [() => attention(q, k, k, { position: fromArray(new Int32Array(2)) }), "position"],
      [() => attention(q, k, k, { scale: Infinity }), "scale"],
      [() => attention(q, k, k, { out: zeros([1, 2, 4, 4]) }), "out"],
      [() => kvAppend(k, k, q, q), "cache"],
      [() => kvAppend(q, q, k, k, { kHead: 3 }), "kHead"],
      [() => kvAppend(q, q, k, k, { vHead: -1 }), "vHead"],
      [() => attention(q, k, k, { heads: 3 }), "multiple"],
      [() => attention(q, k, k, { heads: 6 }), "heads"],
      [() => attention(q, k, k, { heads: 2, out: zeros([1, 2, 4, 8]) }), "out"],
    ];
    for (const [fn, word] of cases) expect(taoError(fn).message).toContain(word);
  });

  cudaTest("CUDA: head_dim above 256 is UNSUPPORTED", () => {
    using q = randn([1, 1, 1, 264], { seed, device: "cuda:0" });
    expect(taoError(() => attention(q, q, q)).codeName).toBe("UNSUPPORTED");
  });
});
