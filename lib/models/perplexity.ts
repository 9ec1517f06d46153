/**
 * Perplexity of a Llama on text, with the protocol of issue 9:
 *   1. the text is split into pieces on blank lines (lines holding only white space count as blank);
 *      each piece is trimmed, empty ones are dropped;
 *   2. the first `pieces` N of them are used (fewer in the text is a TaoError);
 *   3. each is encoded with BOS and cut to its first `maxTokens` T tokens;
 *   4. one teacher-forced forward per piece (batch 1, a fresh cache) gives logits for every position;
 *      position t predicts token t + 1, so a piece of n tokens contributes n − 1 predictions;
 *   5. the NLL of each prediction is −log_softmax(logits_t)[token_{t+1}], computed in float64 on the
 *      host from the logits copied there (f32, or the model's dtype widened to f32);
 *   6. ppl = exp(mean NLL over every prediction of every piece).
 * compareModels runs the same protocol for a reference and candidates and adds, over the same
 * predictions, top-1 agreement (argmax equal to the reference's) and the logit SQNR against the
 * reference (10·log10 Σ ref² / Σ (ref − cand)², float64).
 */
import { invalid } from "../errors.ts";
import { fromArray } from "../creation.ts";
import type { TextTokenizer } from "../tokenizer/tokenizer.ts";
import type { Llama } from "./llama.ts";

/** Which part of a text is scored (see the file comment). */
export interface PerplexityProtocol {
  /** The first N blank-line-separated pieces of the text (default 200). */
  pieces?: number;
  /** Each piece's tokens, BOS included, cut to T (default 256; at least 2, at most the model's seqLen). */
  maxTokens?: number;
}

/** The perplexity of one model under a protocol. */
export interface PerplexityResult {
  ppl: number;
  /** Mean negative log-likelihood per predicted token (nats). */
  meanNll: number;
  /** Predicted positions scored (Σ over pieces of tokens − 1). */
  predictions: number;
  pieces: number;
}

/** A candidate's perplexity and how closely its logits follow the reference's. */
export interface ModelComparison extends PerplexityResult {
  /** Fraction of predictions whose argmax equals the reference's. */
  top1Agreement: number;
  /** 10·log10(Σ ref² / Σ (ref − cand)²) over every predicted position's logits, dB (Infinity when equal). */
  logitSqnr: number;
}

/** The text's blank-line-separated pieces, trimmed, empty ones dropped (protocol step 1). */
export function textPieces(text: string): string[] {
  return text.split(/\n[^\S\n]*\n/).map((p) => p.trim()).filter((p) => p.length > 0);
}

/**
 * The token ids the protocol scores: pieces [from, from + N) of `text` (N = protocol.pieces), each
 * encoded with BOS and cut to maxTokens. Bad protocol values, or a text with too few pieces, are
 * TaoErrors naming `op`. (`from` > 0 takes pieces after an evaluation slice, e.g. for calibration.)
 */
export function protocolTokens(tokenizer: TextTokenizer, text: string, protocol: PerplexityProtocol, seqLen: number, op: string, from = 0): number[][] {
  const { pieces = 200, maxTokens = 256 } = protocol;
  if (!Number.isSafeInteger(pieces) || pieces < 1) throw invalid(op, `pieces must be a positive integer, not ${pieces}`);
  if (!Number.isSafeInteger(maxTokens) || maxTokens < 2) throw invalid(op, `maxTokens must be an integer >= 2, not ${maxTokens}`);
  if (maxTokens > seqLen) throw invalid(op, `maxTokens ${maxTokens} exceeds the model's ${seqLen} positions`);
  if (tokenizer.bosId === null) throw invalid(op, "the tokenizer has no BOS token");
  const all = textPieces(text);
  if (all.length < from + pieces) throw invalid(op, `the text has ${all.length} pieces, ${from + pieces} are needed`);
  return all.slice(from, from + pieces).map((p) => tokenizer.encode(p, { bos: true }).slice(0, maxTokens));
}

/** Logits [T, V] (host f32) of a teacher-forced forward of `ids`, in a fresh cache. */
function pieceLogits(model: Llama, ids: number[]): Float32Array {
  using cache = model.newCache(1, ids.length);
  using x = fromArray(Int32Array.from(ids), { shape: [1, ids.length] }).to(model.device);
  using logits = model.forward(x, cache, { logits: "all" });
  return logits.toArray() as Float32Array;
}

/** −log softmax(row)[target] in float64. */
function nll(row: Float32Array, target: number): number {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  return Math.log(sum) + max - row[target]!;
}

function argmaxOf(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

/** Running sums of one model's scores. */
class Tally {
  nll = 0;
  predictions = 0;
  agree = 0;
  signal = 0;
  noise = 0;

  result(pieces: number): PerplexityResult {
    const meanNll = this.nll / this.predictions;
    return { ppl: Math.exp(meanNll), meanNll, predictions: this.predictions, pieces };
  }
}

/** Perplexity of `model` on `text` under `protocol` (see the file comment for the exact protocol). */
export function evaluatePerplexity(model: Llama, tokenizer: TextTokenizer, text: string, protocol: PerplexityProtocol = {}): PerplexityResult {
  return compareModels(model, [], tokenizer, text, protocol).reference;
}

/**
 * The protocol run for `reference` and each of `candidates` (same config and vocabulary), piece by
 * piece (one reference forward per piece, the candidates' logits compared with it at once).
 */
export function compareModels(
  reference: Llama, candidates: readonly Llama[], tokenizer: TextTokenizer, text: string, protocol: PerplexityProtocol = {},
): { reference: PerplexityResult; candidates: ModelComparison[] } {
  const op = "evaluatePerplexity";
  const V = reference.config.vocabSize;
  const bad = candidates.find((c) => c.config.vocabSize !== V);
  if (bad !== undefined) throw invalid(op, `a candidate has vocabulary ${bad.config.vocabSize}, the reference ${V}`);
  if (tokenizer.vocabSize > V) throw invalid(op, `the tokenizer's ${tokenizer.vocabSize} tokens exceed the model's vocabulary ${V}`);
  const sequences = protocolTokens(tokenizer, text, protocol, reference.config.seqLen, op);
  const ref = new Tally(), cands = candidates.map(() => new Tally());
  for (const ids of sequences) {
    const refLogits = pieceLogits(reference, ids);
    const candLogits = candidates.map((c) => pieceLogits(c, ids));
    for (let t = 0; t + 1 < ids.length; t++) {
      const r = refLogits.subarray(t * V, (t + 1) * V), target = ids[t + 1]!, top = argmaxOf(r);
      ref.nll += nll(r, target);
      ref.predictions++;
      candLogits.forEach((all, i) => {
        const c = all.subarray(t * V, (t + 1) * V), tally = cands[i]!;
        tally.nll += nll(c, target);
        tally.predictions++;
        if (argmaxOf(c) === top) tally.agree++;
        for (let j = 0; j < V; j++) {
          const d = r[j]! - c[j]!;
          tally.signal += r[j]! * r[j]!;
          tally.noise += d * d;
        }
      });
    }
  }
  const n = sequences.length;
  return {
    reference: ref.result(n),
    candidates: cands.map((t) => ({ ...t.result(n), top1Agreement: t.agree / t.predictions, logitSqnr: 10 * Math.log10(t.signal / t.noise) })),
  };
}
