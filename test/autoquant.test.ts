// autoquant on the CPU: choices against the report's own timings, minSqnr, the timing cache's file
// round trip, manual mode, failing candidates, the float_cast candidates and recordLinearShapes on
// a Llama. Timings are never compared with fixed numbers: only with each other, as the report has them.
import { afterAll, describe, expect, spyOn, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  AffineQuantizedTensor, autoquant, clearAutoquantTimings, DEFAULT_AUTOQUANT_CLASS_LIST, finalizeAutoquant, FLOAT_AUTOQUANT_CLASS_LIST,
  formatAutoquantReport, fromArray, int4WeightOnly, int8WeightOnly, Linear, Llama, llamaPreset, Module, NONE, randn, recordLinearShapes,
  Tensor, type AutoquantReport, type QuantConfig,
} from "../lib/index.ts";
import { taoError } from "./helpers.ts";

const timer = { warmup: 1, samples: 3 };
const dir = mkdtempSync(join(tmpdir(), "tao-autoquant-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Two layers: "up" [128 -> 256] then "down" [256 -> 64], bf16 on the CPU. */
class Mlp extends Module {
  constructor(seed = 1) {
    super();
    this.registerModule("up", new Linear(128, 256, { dtype: "bf16", seed }));
    this.registerModule("down", new Linear(256, 64, { dtype: "bf16", seed: seed + 1, bias: false }));
  }

  forward(x: Tensor): Tensor {
    using h = (this.getModule("up") as Linear).forward(x);
    return (this.getModule("down") as Linear).forward(h);
  }
}

const input = (m: number) => randn([m, 128], { dtype: "bf16", seed: m });

/** Runs the Mlp on M = 1 three times and M = 16 once. */
function workload(model: Mlp): void {
  for (const m of [1, 1, 1, 16]) {
    using x = input(m);
    model.forward(x).dispose();
  }
}

/** Every layer's choice is the smallest total among its non-excluded candidates, and the weight is the chosen one. */
function expectChoicesMatch(report: AutoquantReport, model: Module, configs: Record<string, QuantConfig | null>): void {
  for (const layer of report.layers) {
    const ok = layer.candidates.filter((c) => c.excluded === null);
    for (const c of ok) expect(c.totalUs).toBe(c.shapeUs.reduce<number>((t, us, i) => t + us! * layer.shapes[i]!.count, 0));
    const fastest = Math.min(...ok.map((c) => c.totalUs!));
    expect(ok.find((c) => c.name === layer.choice)!.totalUs).toBe(fastest);
    const w = (new Map(model.namedModules()).get(layer.name) as Linear).weight;
    const config = configs[layer.choice];
    if (config === null) expect(w).toBeInstanceOf(Tensor);
    else expect((w as AffineQuantizedTensor).config).toEqual(config!.record);
  }
}

const defaultConfigs = Object.fromEntries(DEFAULT_AUTOQUANT_CLASS_LIST.map((c) => [c.name, c.config]));

describe("autoquant (CPU)", () => {
  test("manual mode: shapes and counts over several forwards, choices are the fastest by the report's timings", () => {
    using model = new Mlp();
    const handle = autoquant(model, { manual: true, timer, mode: "relu" });
    workload(model);
    expect(handle.report).toBeNull(); // manual: forwards only record
    const report = finalizeAutoquant(model);
    expect(handle.report).toBe(report);
    expect(report.layers.map((l) => l.name)).toEqual(["up", "down"]);
    expect(report.layers[0]!.shapes.map((s) => [s.x, s.weight, s.bias, s.count])).toEqual([[[1, 128], [256, 128], [256], 3], [[16, 128], [256, 128], [256], 1]]);
    expect(report.layers[1]!.shapes.map((s) => [s.x, s.bias, s.count])).toEqual([[[1, 256], null, 3], [[16, 256], null, 1]]);
    expect(report.layers[0]!.candidates.map((c) => c.name)).toEqual(["none", "int8wo", "w8a8"]);
    expectChoicesMatch(report, model, defaultConfigs);
    workload(model); // runs with the chosen weights
    expect(formatAutoquantReport(report)).toContain("up: 1x128·256 ×3, 16x128·256 ×1 ->");
    expect(taoError(() => finalizeAutoquant(model)).message).toMatch(/already finalized/);
  });

  test("without manual, the first forward finalizes; exampleInputs finalize at once", () => {
    using model = new Mlp(3);
    const handle = autoquant(model, { timer });
    using x = input(4);
    model.forward(x).dispose();
    expect(handle.report?.layers.length).toBe(2);
    expect(handle.report!.mode).toBe("interpolate 0.85");
    expectChoicesMatch(handle.report!, model, defaultConfigs);
    using again = new Mlp(3);
    const now = autoquant(again, { timer, exampleInputs: [x], filter: (_m, name) => name === "down" });
    expect(now.report!.layers.map((l) => l.name)).toEqual(["down"]);
    expect((again.getModule("up") as Linear).weight).toBeInstanceOf(Tensor);
  });

  test("minSqnr excludes a low-SQNR candidate", () => {
    using model = new Mlp(5);
    const int4 = int4WeightOnly({ groupSize: 128, layout: "plain" });
    const { report } = autoquant(model, { classList: [NONE, int4, int8WeightOnly()], minSqnr: 30, timer, exampleInputs: [input(2)] });
    for (const layer of report!.layers) {
      const [none, i4, i8] = layer.candidates;
      expect(none!.sqnr).toBe(Infinity);
      expect(i4!.sqnr!).toBeLessThan(30); // 4 bits: about 20 dB
      expect(i4!.excluded).toMatch(/SQNR .* < minSqnr 30/);
      expect(i4!.totalUs).toBeNull();
      expect(i8!.sqnr!).toBeGreaterThan(30);
      expect(i8!.excluded).toBeNull();
      expect(layer.choice).not.toBe("int4_weight_only");
    }
  });

  test("timing cache file: the second run measures nothing and chooses the same", () => {
    const cachePath = join(dir, "timings.json");
    const run = () => {
      using model = new Mlp(7);
      autoquant(model, { manual: true, cachePath, timer });
      workload(model);
      const report = finalizeAutoquant(model);
      return { report, choices: report.layers.map((l) => l.choice) };
    };
    clearAutoquantTimings();
    const first = run();
    expect(first.report.measured).toBe(2 * 3 * 2); // 2 layers x 3 candidates x 2 shapes
    expect(first.report.fromCache).toBe(0);
    clearAutoquantTimings(); // the second run has only the file
    const second = run();
    expect(second.report.measured).toBe(0);
    expect(second.report.fromCache).toBe(12);
    expect(second.choices).toEqual(first.choices);
    expect(second.report.layers.map((l) => l.candidates.map((c) => c.totalUs))).toEqual(first.report.layers.map((l) => l.candidates.map((c) => c.totalUs)));
    expect(formatAutoquantReport(second.report)).toContain("nothing measured: all 12 timings from the cache");
  });

  const broken: QuantConfig = { record: { name: "broken" }, skipReason: () => null, quantizeWeight: () => { throw new Error("no kernel today"); } };

  test('onError "skip": a failing candidate is reported and warned about', () => {
    using model = new Mlp(9);
    const warn = spyOn(console, "warn").mockImplementation(() => {});
    try {
      const { report } = autoquant(model, { classList: [NONE, broken], timer, exampleInputs: [input(2)] });
      expect(warn).toHaveBeenCalledTimes(2);
      expect(String(warn.mock.calls[0]![0])).toMatch(/skipping broken: no kernel today/);
      for (const layer of report!.layers) {
        expect(layer.candidates[1]!.excluded).toBe("failed: no kernel today");
        expect(layer.choice).toBe("none");
      }
    } finally {
      warn.mockRestore();
    }
  });

  test('onError "throw": the error comes out and every layer keeps its float weight', () => {
    using model = new Mlp(11);
    using x = input(2);
    expect(() => autoquant(model, { classList: [NONE, broken], onError: "throw", timer, exampleInputs: [x] })).toThrow("no kernel today");
    for (const name of ["up", "down"]) expect((model.getModule(name) as Linear).weight).toBeInstanceOf(Tensor);
    model.forward(x).dispose();
  });

  test("float_cast candidates: an f32 layer may compute in bf16 or f16", () => {
    using model = new Linear(64, 32, { seed: 2 });
    using x = randn([8, 64], { seed: 3 });
    using ref = model.forward(x);
    const { report } = autoquant(model, { classList: FLOAT_AUTOQUANT_CLASS_LIST, mode: "relu", timer, exampleInputs: [x] });
    const layer = report!.layers[0]!;
    expect(layer.candidates.map((c) => c.name)).toEqual(["f32", "f16", "bf16"]);
    for (const c of layer.candidates) expect(c.sqnr!).toBeGreaterThan(c.name === "f32" ? 200 : 35);
    using y = model.forward(x);
    expect(y.dtype).toBe("f32");
    expect(Math.max(...Array.from(y.toArray(), (v, i) => Math.abs(v - ref.toArray()[i]!)))).toBeLessThan(0.05);
  });

  test("bad options are TaoErrors", () => {
    using model = new Mlp();
    expect(taoError(() => autoquant(model, { mode: ["interpolate", 1.5] })).message).toMatch(/mode/);
    expect(taoError(() => autoquant(model, { classList: [NONE, NONE] })).message).toMatch(/twice/);
    expect(taoError(() => finalizeAutoquant(model)).message).toMatch(/not called/);
  });
});

describe("recordLinearShapes (Llama tiny)", () => {
  test("prefill T tokens then decode steps: M = T once and M = 1 per step, per projection", () => {
    using model = new Llama(llamaPreset("tiny"), { dtype: "f32", device: "cpu", seed: 4 });
    using cache = model.newCache(1, 32);
    const T = 6, steps = 3;
    const shapes = recordLinearShapes(model, () => {
      using prompt = fromArray(Int32Array.from({ length: T }, (_, i) => i + 1), { shape: [1, T] });
      model.forward(prompt, cache).dispose();
      for (let s = 0; s < steps; s++) {
        using one = fromArray(Int32Array.of(7 + s), { shape: [1, 1] });
        model.forward(one, cache).dispose();
      }
    });
    const c = model.config;
    const q = shapes.filter((s) => s.layer === "model.layers.0.self_attn.qkv_proj"), qkv = c.dim + 2 * (c.dim / c.nHeads) * c.nKvHeads;
    expect(q.map(({ m, k, n, count }) => ({ m, k, n, count }))).toEqual([{ m: T, k: c.dim, n: qkv, count: 1 }, { m: 1, k: c.dim, n: qkv, count: steps }]);
    const down = shapes.filter((s) => s.layer === "model.layers.4.mlp.down_proj");
    expect(down.map(({ m, k, n }) => [m, k, n])).toEqual([[T, c.hiddenDim, c.dim], [1, c.hiddenDim, c.dim]]);
    expect(shapes.filter((s) => s.layer === "lm_head").map(({ m, count }) => [m, count])).toEqual([[1, 1 + steps]]); // logits of the last token only
    expect(new Set(shapes.map((s) => s.layer)).size).toBe(c.nLayers * 4 + 1); // qkv_proj, o_proj, gate_up_proj, down_proj
    for (const [, p] of model.namedParameters()) expect(p).toBeInstanceOf(Tensor); // weights restored
  });

  test("autoquant a Llama over prefill + decode (manual), then generate with the chosen weights", () => {
    using model = new Llama(llamaPreset("tiny"), { dtype: "f32", device: "cpu", seed: 4 });
    using cache = model.newCache(1, 32);
    autoquant(model, { manual: true, timer, filter: (_m, name) => name.startsWith("model.layers.0.") });
    using prompt = fromArray(Int32Array.of(1, 2, 3, 4), { shape: [1, 4] });
    using one = fromArray(Int32Array.of(5), { shape: [1, 1] });
    model.forward(prompt, cache).dispose();
    model.forward(one, cache).dispose();
    const report = finalizeAutoquant(model);
    expect(report.layers.length).toBe(4);
    expectChoicesMatch(report, model, defaultConfigs);
    cache.reset();
    using logits = model.forward(prompt, cache);
    expect(logits.shape).toEqual([1, 512]);
  });
});

test("tao autoquant <model>: the report, then with --cache a second run that measures nothing", () => {
  const root = join(dirname(fileURLToPath(import.meta.url)), "..");
  const cache = join(dir, "cli.json");
  const run = () => spawnSync(process.execPath, [join(root, "bin/tao.ts"), "autoquant", "stories260K", "--tokens", "4", "--steps", "2", "--cache", cache, "--min-sqnr", "25"],
    { cwd: root, encoding: "utf8", env: process.env });
  const first = run();
  expect(first.status).toBe(0);
  expect(first.stdout).toMatch(/^autoquant on cpu .* minSqnr 25: \d+ timings measured/);
  expect(first.stdout).toContain("model.layers.0.self_attn.qkv_proj: 4x64·128 ×1, 1x64·128 ×2 ->");
  const second = run();
  expect(second.stdout).toContain("nothing measured");
}, 60_000); // two processes, each loading the library and the model
