// HQQ (int4WeightOnly({ hqq: true }), lib/quantization/hqq.ts): lower mean |W − Ŵ| than min/max
// round-to-nearest (what its solver descends), the int4 layouts and records, save → load, lower
// perplexity than RTN at group 32 on a slice of the shipped model, bad arguments.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AffineQuantizedTensor, dequantizeGroups, evaluatePerplexity, fromArray, hqqGroups, int4WeightOnly, Linear, loadInto, quantize, randn,
  rtnGroups, save, storiesModelPath, TaoError, ZeroPointDomain,
} from "../lib/index.ts";
import { openLlama, SHIPPED_MODEL } from "../lib/cli/llama_model_arg.ts";
import { rng } from "./helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "tao-hqq-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("HQQ int4", () => {
  test("lower mean |W − Ŵ| than min/max RTN on heavy-tailed weights", () => {
    const n = 64, k = 128, r = rng(9);
    // Student-t-like weights: a normal over a random scale, so groups hold outliers.
    const w = Float64Array.from({ length: n * k }, () => (Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r())) / (0.3 + r()));
    const l1 = (what: Float64Array) => what.reduce((s, v, i) => s + Math.abs(v - w[i]!), 0) / w.length;
    const hqq = l1(dequantizeGroups(hqqGroups(w, n, k, 32)));
    const rtn = l1(dequantizeGroups(rtnGroups(w, n, k, 32)));
    // Measured: RTN 0.1167, HQQ 0.1122.
    console.log(`mean |W − Ŵ|: RTN ${rtn.toFixed(4)}, HQQ ${hqq.toFixed(4)}`);
    expect(hqq).toBeLessThan(rtn);
  });

  test("tensor_core_tiled where it fits, recorded as hqq; save → load gives identical outputs", () => {
    const layer = new Linear(128, 16, { bias: false, seed: 3 });
    quantize(layer, int4WeightOnly({ groupSize: 32, hqq: true }));
    const w = layer.weight as AffineQuantizedTensor;
    expect(w.layout.name).toBe("tensor_core_tiled");
    expect(w.config).toMatchObject({ name: "int4_weight_only", groupSize: 32, hqq: true });
    using x = randn([5, 128], { seed: 4 });
    using y = layer.forward(x);
    const path = join(dir, "hqq.safetensors");
    save(layer, path);
    const fresh = new Linear(128, 16, { bias: false, seed: 8 });
    expect(loadInto(fresh, path).quantized).toEqual(["weight"]);
    using again = fresh.forward(x);
    expect(again.toArray()).toEqual(y.toArray());
    layer.dispose();
    fresh.dispose();
  });

  test("stories260K int4 g32: ppl(HQQ) < ppl(RTN) on a slice", () => {
    const text = readFileSync(storiesModelPath("tinystories_val.txt"), "utf8"), slice = { pieces: 24, maxTokens: 128 };
    const ppl = (hqq: boolean) => {
      const { model, tokenizer } = openLlama(SHIPPED_MODEL, { dtype: "f32", device: "cpu" });
      try {
        quantize(model, int4WeightOnly({ groupSize: 32, hqq }));
        return evaluatePerplexity(model, tokenizer, text, slice).ppl;
      } finally {
        model.dispose();
      }
    };
    const rtn = ppl(false), hqq = ppl(true);
    // Measured: RTN 4.393, HQQ 4.345 (at group 64 HQQ is worse here: 4.554 vs 4.363, so no ordering is asserted there).
    console.log(`ppl on 24 pieces: RTN ${rtn.toFixed(4)}, HQQ ${hqq.toFixed(4)}`);
    expect(hqq).toBeLessThan(rtn);
  });

  test("bad arguments: TaoError", () => {
    expect(() => int4WeightOnly({ hqq: true, layout: "plain", zeroPointDomain: ZeroPointDomain.INT })).toThrow(TaoError);
    using w = fromArray(new Float32Array(64), { shape: [2, 32] });
    expect(int4WeightOnly({ groupSize: 64, hqq: true }).skipReason(w)).toContain("not a multiple");
  });
});
