// bench/llama.ts's additions for issue 7: LlamaDecoder.next() (generate()'s per-token loop) against
// step() + a read, the host-idle measurement, the PyTorch peer's columns (tao tok/s over the peer's),
// the peer runner's reasons for not running, and the grouped bar chart.
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { argmax, fromArray, Llama, LlamaDecoder, llamaPreset } from "../lib/index.ts";
import { runLlamaBench } from "../bench/llama.ts";
import { peerSchemes, runPeer, type LlamaPeer } from "../bench/llama_peer.ts";
import { hostIdle } from "../bench/llama_timing.ts";
import { barChart } from "../bench/plot.ts";
import { devices, hasCuda, noCudaReason } from "./helpers.ts";

const out = mkdtempSync(join(tmpdir(), "tao-llama-bench-"));
process.env.TAO_BENCH_OUT = out;
afterAll(() => rmSync(out, { recursive: true, force: true }));

const config = { ...llamaPreset("tiny"), vocabSize: 96, nLayers: 2 };

describe.each(devices)("LlamaDecoder.next on %s", (device) => {
  test("gives the tokens step() leaves in decoder.tokens, batch 2", () => {
    using model = new Llama(config, { dtype: device === "cpu" ? "f32" : "bf16", device, seed: 9 });
    const run = (read: (d: LlamaDecoder) => Int32Array) => {
      using cache = model.newCache(2, 24);
      using prompt = fromArray(Int32Array.from([3, 1, 4, 1, 5, 9]), { shape: [2, 3] }).to(device);
      using logits = model.forward(prompt, cache);
      using decoder = new LlamaDecoder(model, cache);
      argmax(logits, { out: decoder.tokens.reshape(2) });
      return Array.from({ length: 10 }, () => [...read(decoder)]);
    };
    const viaNext = run((d) => d.next());
    const viaStep = run((d) => (d.step(), d.tokens.toArray() as Int32Array));
    expect(viaNext).toEqual(viaStep);
    expect(new Set(viaNext.flat()).size).toBeGreaterThan(1); // the steps do move on
  });
});

test.skipIf(!hasCuda)(`hostIdle times generate()'s loop no faster than the back-to-back replays${hasCuda ? "" : ` (skipped: ${noCudaReason})`}`, () => {
  using model = new Llama(config, { dtype: "bf16", device: "cuda:0", seed: 2 });
  const { real, pure, idle } = hostIdle(model, 32);
  expect(pure).toBeGreaterThan(0);
  // Waiting for each token on the host cannot make the device faster than when it never waits (5% noise).
  expect(real).toBeGreaterThan(pure * 0.95);
  expect(idle).toBeCloseTo(1 - pure / real, 12);
});

test("runLlamaBench puts the peer's tokens/s beside ours, for the schemes the peer has", () => {
  const peer: LlamaPeer = {
    torch: "t", gpu: "g", mode: "max-autotune", steps: 2,
    schemes: { f32: { tok_s: 123.5, step_ms: 8.1, compile_s: 1, weights_gb: 0, peak_gb: 0, cudagraph_skips: 0 } },
  };
  const { rows } = runLlamaBench({ device: "cpu", preset: "tiny", schemes: ["f32", "int8wo"], batches: [1], steps: 2, prompt: 8, peer }, false);
  expect(rows[0]!["torch tok/s b1"]).toBe(123.5);
  expect(rows[0]!["× torch"]).toBeCloseTo(Number(rows[0]!["tok/s b1"]) / 123.5, 12);
  expect(rows[1]!["torch tok/s b1"]).toBeUndefined();
  expect(rows[1]!["× torch"]).toBeUndefined();
});

describe("the peer runner", () => {
  test("runs the schemes it implements only", () => {
    expect(peerSchemes(["bf16", "int8wo", "int4wo-64", "int4wo-128", "w8a8", "autoquant"])).toEqual(["bf16", "int4wo-64", "int4wo-128"]);
  });

  test("says why when the interpreter is missing", () => {
    const r = runPeer(llamaPreset("tiny"), ["bf16"], 4, 30, undefined, join(out, "no-such-python"));
    expect(r).toEqual({ skipped: expect.stringMatching(/no-such-python.*ENOENT/) });
  });

  const torchMissing = spawnSync("python3", ["-c", "import torch"]).status !== 0;
  test.skipIf(!torchMissing)("says why when python3 has no torch (skipped where it has: that would run the peer)", () => {
    const log = join(out, "peer.log");
    const r = runPeer(llamaPreset("tiny"), ["bf16"], 4, 60, log, "python3");
    expect(r).toEqual({ skipped: expect.stringMatching(/exited with 1: .*No module named 'torch'/) });
    expect(readFileSync(log, "utf8")).toMatch(/Traceback/);
  });
});

test("barChart draws one label per group and a legend per series", () => {
  const path = barChart("chart.svg", "t", [["bf16", 100, "tao"], ["bf16", 80, "torch"], ["int4", 200, "tao"]]);
  const svg = readFileSync(path, "utf8");
  expect(svg.match(/>bf16</g)).toHaveLength(1);
  expect(svg.match(/>int4</g)).toHaveLength(1);
  expect(svg).toContain(">tao<");
  expect(svg).toContain(">torch<");
  expect(svg.match(/<rect /g)).toHaveLength(3 + 2); // bars + legend swatches
});
