// autoquant on a GPU: a model mixing decode-like (M = 1) and prefill-like (M = 2048) linears gets,
// per layer, the fastest candidate above minSqnr by the report's own timings, and the per-layer
// choices total no more than the best single config applied to every layer (same timings).
import { describe, expect, test } from "bun:test";
import { ALL_AUTOQUANT_CLASS_LIST, autoquant, finalizeAutoquant, formatAutoquantReport, Linear, Module, randn, type Tensor } from "../lib/index.ts";
import { hasCuda, noCudaReason } from "./helpers.ts";

if (!hasCuda) console.log(`autoquant_cuda.test.ts skipped: ${noCudaReason}`);

/** "decode" sees M = 1, "prefill" M = 2048, "both" each of them; bf16 [4096 -> 4096] on cuda:0. */
class Mixed extends Module {
  constructor() {
    super();
    for (const [i, name] of ["decode", "prefill", "both"].entries()) {
      this.registerModule(name, new Linear(4096, 4096, { dtype: "bf16", device: "cuda:0", seed: i + 1, bias: false }));
    }
  }

  forward(name: string, x: Tensor): void {
    (this.getModule(name) as Linear).forward(x).dispose();
  }
}

describe.skipIf(!hasCuda)(`autoquant on cuda:0${hasCuda ? "" : ` (skipped: ${noCudaReason})`}`, () => {
  test("per-layer choices are the fastest above minSqnr and beat or match every single config", () => {
    using model = new Mixed();
    using one = randn([1, 4096], { dtype: "bf16", device: "cuda:0", seed: 1 });
    using many = randn([2048, 4096], { dtype: "bf16", device: "cuda:0", seed: 2 });
    autoquant(model, { manual: true, classList: ALL_AUTOQUANT_CLASS_LIST, minSqnr: 20, mode: "relu" });
    for (let i = 0; i < 16; i++) model.forward("decode", one), model.forward("both", one);
    model.forward("prefill", many);
    model.forward("both", many);
    const report = finalizeAutoquant(model);
    console.log(formatAutoquantReport(report));
    expect(report.layers.map((l) => l.shapes.map((s) => [s.x[0], s.count]))).toEqual([[[1, 16]], [[2048, 1]], [[1, 16], [2048, 1]]]);
    let chosen = 0;
    for (const layer of report.layers) {
      const ok = layer.candidates.filter((c) => c.excluded === null);
      for (const c of layer.candidates) if (c.excluded === null) expect(c.sqnr!).toBeGreaterThanOrEqual(20);
      const best = Math.min(...ok.map((c) => c.totalUs!));
      expect(ok.find((c) => c.name === layer.choice)!.totalUs).toBe(best);
      chosen += best;
    }
    const singles = ALL_AUTOQUANT_CLASS_LIST.flatMap((c) => {
      const per = report.layers.map((l) => l.candidates.find((r) => r.name === c.name)!.totalUs);
      return per.every((us) => us !== null) ? [{ name: c.name, us: per.reduce<number>((a, b) => a + b!, 0) }] : [];
    });
    const bestSingle = singles.reduce((a, b) => (b.us < a.us ? b : a));
    console.log(`autoquant total ${chosen.toFixed(1)} us; best single config ${bestSingle.name} ${bestSingle.us.toFixed(1)} us`);
    expect(chosen).toBeLessThanOrEqual(bestSingle.us);
    for (const layer of ["decode", "prefill", "both"]) model.forward(layer, many); // the chosen weights run
  });
});
