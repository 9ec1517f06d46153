// The `tao` CLI, run as a process (bun bin/tao.ts ...): help, usage errors (exit 2, one line on
// stderr), failures (exit 1), info, tokenize, convert, and quantize producing loadable checkpoints.
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AffineQuantizedTensor, load, loadHfLlama, loadInto, randn, readSafetensors, storiesModelPath, Tensor, weightTree, writeSafetensors,
} from "../lib/index.ts";

const root = join(import.meta.dir, "..");

function tao(...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(root, "bin/tao.ts"), ...args], { cwd: root, encoding: "utf8", env: process.env });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function withDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "tao-cli-"));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("tao CLI", () => {
  test("--help on the CLI and on every command", () => {
    const top = tao("--help");
    expect(top.code).toBe(0);
    for (const name of ["info", "quantize", "tokenize", "convert", "generate", "eval"]) {
      expect(top.stdout).toContain(`  ${name} `);
      const r = tao(name, "--help");
      expect(r.code).toBe(0);
      expect(r.stdout).toStartWith(`usage: tao ${name}`);
      expect(r.stdout).toContain("-h, --help");
    }
  });

  test("bad arguments: exit code 2 and one line on stderr", () => {
    const tok = storiesModelPath("tok512.bin");
    const cases: [string[], string][] = [
      [[], "no command given"],
      [["frobnicate"], 'unknown command "frobnicate"'],
      [["info", "--bogus"], "Unknown option '--bogus'"],
      [["info", "extra"], "expects no arguments"],
      [["quantize", "in.safetensors", "-o", "out.safetensors"], "--config is required"],
      [["quantize", "in.safetensors", "--config", "int3", "-o", "x"], 'unknown --config "int3"'],
      [["quantize", "--config", "int8wo", "-o", "x"], "expects <in>, got none"],
      [["quantize", "in.safetensors", "--config", "int8wo", "-o"], "argument missing"],
      [["quantize", "in.safetensors", "--config", "int8wo", "-o", "x", "--dtype", "f64"], "--dtype must be one of"],
      [["tokenize", tok], "give exactly one of --text, --file, --ids"],
      [["tokenize", tok, "--text", "a", "--ids", "1"], "give exactly one of"],
      [["tokenize", tok, "--ids", "1 x"], '"x" is not a token id'],
      [["convert", storiesModelPath()], "--output is required"],
    ];
    for (const [args, message] of cases) {
      const r = tao(...args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toContain(message);
      expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
      expect(r.stdout).toBe("");
    }
  });

  test("a failure that is not a usage error exits 1 with one line", () => {
    const r = tao("quantize", "/nonexistent/model.bin", "--config", "int8wo", "-o", "/tmp/x.safetensors");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("/nonexistent/model.bin");
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  });

  test("info", () => {
    const json = tao("info", "--json");
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout).cpu.threads).toBeGreaterThan(0);
    expect(tao("info").stdout).toContain("cpu: ");
  });

  test("tokenize and back", () => {
    const tok = storiesModelPath("tok512.bin");
    expect(tao("tokenize", tok, "--text", "Once upon a time").stdout).toBe("1 403 407 261 378\n");
    expect(tao("tokenize", tok, "--text", "a", "--no-bos", "--eos").stdout).toBe("261 2\n");
    expect(tao("tokenize", tok, "--ids", "1 403, 407 261 378").stdout).toBe("Once upon a time\n");
    expect(JSON.parse(tao("tokenize", tok, "--text", "Once", "--json").stdout)).toEqual({ ids: [1, 403], pieces: ["", " Once"] }); // each id decoded alone keeps its space
  });

  test("quantize a plain safetensors file: loadable, unquantizable layers and other tensors kept", () => {
    withDir((dir) => {
      const input = join(dir, "in.safetensors"), output = join(dir, "out.safetensors");
      const tensors = {
        "fc1.weight": randn([256, 128], { dtype: "bf16", seed: 1 }),
        "fc1.bias": randn([256], { dtype: "bf16", seed: 2 }),
        "block.fc2.weight": randn([64, 256], { dtype: "bf16", seed: 3 }),
        "block.odd.weight": randn([8, 100], { dtype: "bf16", seed: 4 }), // K = 100: no group of 128 fits
        "norm.weight": randn([128], { dtype: "bf16", seed: 5 }),
      };
      writeSafetensors(input, tensors);
      const r = tao("quantize", input, "--config", "int4wo-128", "-o", output);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("fc1");
      expect(r.stdout).toContain("K = 100 is not a multiple of groupSize 128");
      expect(r.stdout).toContain("int4wo-128: 2 of 3 Linear layers quantized");

      const dict = load(output);
      expect(dict["fc1.weight"]).toBeInstanceOf(AffineQuantizedTensor);
      expect(dict["block.fc2.weight"]).toBeInstanceOf(AffineQuantizedTensor);
      expect(dict["block.odd.weight"]).toBeInstanceOf(Tensor);
      expect((dict["norm.weight"] as Tensor).toArray()).toEqual(tensors["norm.weight"].toArray());
      expect((dict["fc1.bias"] as Tensor).toArray()).toEqual(tensors["fc1.bias"].toArray());
      // It loads into the original (float) definition of the same tree.
      using model = weightTree(readSafetensors(input).tensors, () => true);
      expect(loadInto(model, output).quantized.sort()).toEqual(["block.fc2.weight", "fc1.weight"]);
    });
  });

  test("quantize the shipped llama2.c checkpoint (int8wo), and convert it to an HF folder", () => {
    withDir((dir) => {
      const output = join(dir, "q.safetensors");
      const r = tao("quantize", storiesModelPath(), "--config", "int8wo", "-o", output);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("int8wo: 35 of 35 Linear layers quantized");
      const dict = load(output);
      expect(dict["model.layers.4.mlp.down_proj.weight"]).toBeInstanceOf(AffineQuantizedTensor);
      expect(dict["model.embed_tokens.weight"]).toBeInstanceOf(Tensor);

      const hf = join(dir, "hf");
      const c = tao("convert", storiesModelPath(), "-o", hf, "--tokenizer", storiesModelPath("tok512.bin"), "--dtype", "bf16");
      expect(c.code).toBe(0);
      using ckpt = loadHfLlama(hf);
      expect(ckpt.config.nLayers).toBe(5);
      expect(ckpt.weights.get("model.norm.weight")!.dtype).toBe("bf16");
      expect(tao("tokenize", hf, "--text", "Once upon a time").stdout).toBe("1 403 407 261 378\n");
      expect(tao("quantize", hf, "--config", "w8a8", "-o", join(dir, "w8a8.safetensors")).code).toBe(0);
    });
  });
});
