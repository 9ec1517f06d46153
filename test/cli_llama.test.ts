// `tao generate` and `tao eval ppl` on the shipped model, run as processes: their output against the
// library's generate()/evaluatePerplexity, an HF folder scoring like the llama2.c file, bad arguments.
import { afterAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { evaluatePerplexity, generate, Llama, loadStories260K, storiesModelPath } from "../lib/index.ts";

const root = join(import.meta.dir, "..");
const TEXT = storiesModelPath("tinystories_val.txt");
const tao = (...args: string[]) => {
  const r = spawnSync(process.execPath, [join(root, "bin/tao.ts"), ...args], { cwd: root, encoding: "utf8", env: process.env });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
};

describe("tao generate / tao eval", () => {
  const { checkpoint, tokenizer } = loadStories260K();
  const model = Llama.fromCheckpoint(checkpoint);
  checkpoint.dispose();
  afterAll(() => model.dispose());

  test("generate: greedy text equals generate() after the prompt; --config reports what it quantized", () => {
    const want = [...generate(model, tokenizer, "Once upon a time", { maxTokens: 24 })].map((t) => t.text).join("");
    const r = tao("generate", "stories260K", "--prompt", "Once upon a time", "--max-tokens", "24");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`Once upon a time${want}\n`);
    const q = tao("generate", "stories260K", "-p", "The cat", "-n", "8", "--config", "int4wo-32", "--temperature", "0.8", "--top-k", "20", "--seed", "3");
    expect(q.code).toBe(0);
    expect(q.stderr).toContain("int4wo-32: 16 of 21 Linear layers converted (5 left as they are: K = 172 is not a multiple of groupSize 32)");
    expect(q.stdout).toStartWith("The cat");
  });

  test("eval ppl: the library's perplexity; with --config also the f32 comparison; an HF folder scores the same", () => {
    const want = evaluatePerplexity(model, tokenizer, readFileSync(TEXT, "utf8"), { pieces: 4, maxTokens: 64 });
    const r = tao("eval", "ppl", "stories260K", "--text", TEXT, "--pieces", "4", "--max-tokens", "64");
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith(`ppl ${want.ppl.toFixed(4)}  (mean NLL ${want.meanNll.toFixed(5)} over ${want.predictions} predicted tokens, 4 pieces)`);
    const q = tao("eval", "ppl", "stories260K", "--text", TEXT, "--pieces", "4", "--max-tokens", "64", "--config", "int8wo");
    expect(q.code).toBe(0);
    expect(q.stdout).toMatch(new RegExp(`f32 ppl ${want.ppl.toFixed(4)} .*top-1 agreement [\\d.]+% .*logit SQNR [\\d.]+ dB`));
    const dir = mkdtempSync(join(tmpdir(), "tao-eval-"));
    try {
      expect(tao("convert", storiesModelPath(), "-o", dir, "--tokenizer", storiesModelPath("tok512.bin")).code).toBe(0);
      const hf = tao("eval", "ppl", dir, "--text", TEXT, "--pieces", "4", "--max-tokens", "64");
      expect(hf.code).toBe(0);
      expect(hf.stdout).toStartWith(`ppl ${want.ppl.toFixed(4)}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("bad arguments exit 2 with one line; a text too short for --pieces exits 1", () => {
    const dir = mkdtempSync(join(tmpdir(), "tao-eval-"));
    try {
      copyFileSync(storiesModelPath(), join(dir, "model.bin"));
      writeFileSync(join(dir, "short.txt"), "One story.\n\nAnother one.\n");
      const cases: [string[], string][] = [
        [["generate", "stories260K"], "--prompt is required"],
        [["generate", "stories260K", "-p", "x", "--config", "int3"], 'unknown --config "int3"'],
        [["generate", "stories260K", "-p", "x", "--temperature", "hot"], '--temperature must be a number >= 0, not "hot"'],
        [["generate", "stories260K", "-p", "x", "--max-tokens", "0"], "--max-tokens must be an integer >= 1"],
        [["generate", "nowhere.bin", "-p", "x"], "is neither \"stories260K\" nor an existing file or folder"],
        [["generate", join(dir, "model.bin"), "-p", "x"], "no tokenizer.bin beside"],
        [["eval", "bleu", "stories260K", "--text", TEXT], 'the only evaluation is "ppl", not "bleu"'],
        [["eval", "ppl", "stories260K"], "--text is required"],
        [["eval", "ppl", "stories260K", "--text", TEXT, "--pieces", "2.5"], "--pieces must be an integer >= 1"],
        [["eval", "ppl", "stories260K", "--text", TEXT, "--max-tokens", "1"], "--max-tokens must be an integer >= 2"],
      ];
      for (const [args, message] of cases) {
        const r = tao(...args);
        expect(r.code, args.join(" ")).toBe(2);
        expect(r.stderr).toContain(message);
        expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
      }
      const short = tao("eval", "ppl", "stories260K", "--text", join(dir, "short.txt"), "--pieces", "3");
      expect(short.code).toBe(1);
      expect(short.stderr).toContain("the text has 2 pieces, 3 are needed");
      const withTok = tao("eval", "ppl", join(dir, "model.bin"), "--tokenizer", storiesModelPath("tok512.bin"), "--text", join(dir, "short.txt"), "--pieces", "2");
      expect(withTok.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
