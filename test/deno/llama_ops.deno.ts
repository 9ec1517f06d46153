// The transformer ops under Deno, on the CPU: attention (GQA decode at a buffered position), rmsNorm
// and rope within their float64 bounds (test/llama_refs.ts), sampling deterministic per seed, and a
// bad shape as a TaoError.
import { argmax, attention, fromArray, randn, rmsNorm, rope, sample, TaoError } from "../../lib/index.ts";
import { misses, refAttention, refRmsNorm, refRope } from "../llama_refs.ts";
import { assert, assertEquals, assertThrows } from "./assert.ts";

Deno.test("attention, rmsNorm, rope on the CPU within their float64 bounds", () => {
  const seed = Math.floor(Math.random() * 2 ** 31);
  const c = { b: 2, t: 1, hq: 8, hkv: 2, dh: 64, cap: 50, kvLen: 50, causal: true, p0: 33 };
  using q = randn([c.b, c.t, c.hq, c.dh], { dtype: "bf16", seed }), k = randn([c.b, c.cap, c.hkv, c.dh], { dtype: "bf16", seed: seed + 1 });
  using v = randn([c.b, c.cap, c.hkv, c.dh], { dtype: "bf16", seed: seed + 2 });
  using position = fromArray(new Int32Array([c.p0]));
  using o = attention(q, k, v, { position });
  const a = refAttention(q.toArray(), k.toArray(), v.toArray(), c, 1 / 8, "bf16");
  assertEquals(misses(o.toArray(), a.ref, a.tol), [], `attention (seed ${seed})`);
  using w = randn([64], { dtype: "bf16", seed });
  using n = rmsNorm(q, w);
  const r = refRmsNorm(q.toArray(), w.toArray(), 64, 1e-5, "bf16");
  assertEquals(misses(n.toArray(), r.ref, r.tol), [], `rmsNorm (seed ${seed})`);
  using y = rope(q, { position, style: "half", theta: 500000 });
  const p = refRope(q.toArray(), q.shape, [c.p0, c.p0], 500000, "half", "bf16");
  assertEquals(misses(y.toArray(), p.ref, p.tol), [], `rope (seed ${seed})`);
});

Deno.test("sample is deterministic per seed and temperature 0 is argmax; bad shapes are TaoErrors", () => {
  using x = randn([3, 500], { seed: 5 });
  assertEquals(sample(x, { seed: 9, topK: 20 }).toArray(), sample(x, { seed: 9, topK: 20 }).toArray());
  assertEquals(sample(x, { temperature: 0 }).toArray(), argmax(x).toArray());
  assert(assertThrows(() => rope(randn([1, 2, 3, 5], { seed: 1 })), TaoError).message.includes("Dh even"));
});
