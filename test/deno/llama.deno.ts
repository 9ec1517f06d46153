// The Llama decoder under Deno: the shipped model generates the same greedy story as under Bun, and
// int8 weight-only perplexity stays within 0.5 % of f32.
import { evaluatePerplexity, generate, int8WeightOnly, Llama, loadStories260K, quantize, storiesModelPath } from "../../lib/index.ts";
import { assert, assertEquals } from "./assert.ts";

function shipped(): { model: Llama; tokenizer: ReturnType<typeof loadStories260K>["tokenizer"] } {
  const { checkpoint, tokenizer } = loadStories260K();
  const model = Llama.fromCheckpoint(checkpoint);
  checkpoint.dispose();
  return { model, tokenizer };
}

Deno.test("stories260K tells its greedy story", () => {
  const { model, tokenizer } = shipped();
  using _ = model;
  const text = [...generate(model, tokenizer, "Once upon a time", { maxTokens: 24 })].map((t) => t.text).join("");
  assert(text.startsWith(", there was a little girl named Lily."), text);
});

Deno.test("int8 weight-only perplexity within 0.5 % of f32", () => {
  const text = Deno.readTextFileSync(storiesModelPath("tinystories_val.txt"));
  const { model, tokenizer } = shipped();
  using _ = model;
  const protocol = { pieces: 8, maxTokens: 64 };
  const f32 = evaluatePerplexity(model, tokenizer, text, protocol).ppl;
  quantize(model, int8WeightOnly());
  const int8 = evaluatePerplexity(model, tokenizer, text, protocol).ppl;
  assertEquals(Number.isFinite(f32), true);
  assert(Math.abs(int8 / f32 - 1) < 0.005, `${int8} vs ${f32}`);
});
