/**
 * An independent writer of llama2.c checkpoints for the tests (no code shared with lib/models):
 * written from karpathy/llama2.c export.py's legacy_export, version1_export and version2_export
 * (quantize_q80). A synthetic model is a set of float32 arrays in llama2.c's own names.
 */
import { normals, rng } from "./helpers.ts";

/** A model's shape in llama2.c's header terms. */
export interface Shape {
  dim: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  seq: number;
  shared: boolean;
}

/** llama2.c's tensors: per-layer lists for the layer weights, single arrays for the rest. */
export interface SyntheticModel {
  shape: Shape;
  tokEmbedding: Float32Array;
  attNorm: Float32Array[];
  wq: Float32Array[];
  wk: Float32Array[];
  wv: Float32Array[];
  wo: Float32Array[];
  ffnNorm: Float32Array[];
  w1: Float32Array[];
  w2: Float32Array[];
  w3: Float32Array[];
  finalNorm: Float32Array;
  wcls: Float32Array | null;
}

/** llama2.c name → Hugging Face name of layer i (model.py's Transformer ↔ LlamaForCausalLM). */
export const HF_NAMES = {
  attNorm: "input_layernorm", wq: "self_attn.q_proj", wk: "self_attn.k_proj", wv: "self_attn.v_proj", wo: "self_attn.o_proj",
  ffnNorm: "post_attention_layernorm", w1: "mlp.gate_proj", w2: "mlp.down_proj", w3: "mlp.up_proj",
} as const;

/** A random model of `shape` (seeded). */
export function syntheticModel(shape: Shape, seed: number): SyntheticModel {
  const next = rng(seed);
  const hd = shape.dim / shape.heads, kv = shape.kvHeads * hd;
  const many = (n: number) => Array.from({ length: shape.layers }, () => normals(next, n, 0.5));
  return {
    shape,
    tokEmbedding: normals(next, shape.vocab * shape.dim),
    attNorm: many(shape.dim), wq: many(shape.dim * shape.dim), wk: many(kv * shape.dim), wv: many(kv * shape.dim),
    wo: many(shape.dim * shape.dim), ffnNorm: many(shape.dim), w1: many(shape.hidden * shape.dim),
    w2: many(shape.dim * shape.hidden), w3: many(shape.hidden * shape.dim), finalNorm: normals(next, shape.dim),
    wcls: shape.shared ? null : normals(next, shape.vocab * shape.dim),
  };
}

/** Appends little-endian pieces into one byte array. */
class Bytes {
  readonly parts: Uint8Array[] = [];
  i32(...values: number[]): this {
    const b = new Uint8Array(4 * values.length), dv = new DataView(b.buffer);
    values.forEach((v, i) => dv.setInt32(4 * i, v, true));
    this.parts.push(b);
    return this;
  }
  u8(...values: number[]): this {
    this.parts.push(Uint8Array.from(values));
    return this;
  }
  f32(...arrays: Float32Array[]): this {
    for (const a of arrays) this.parts.push(new Uint8Array(Float32Array.from(a).buffer));
    return this;
  }
  i8(...arrays: Int8Array[]): this {
    for (const a of arrays) this.parts.push(new Uint8Array(a.buffer, a.byteOffset, a.length));
    return this;
  }
  padTo(n: number): this {
    const have = this.parts.reduce((a, p) => a + p.length, 0);
    this.parts.push(new Uint8Array(n - have));
    return this;
  }
  done(): Uint8Array {
    const out = new Uint8Array(this.parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

const params = (s: Shape, vocab: number) => [s.dim, s.hidden, s.layers, s.heads, s.kvHeads, vocab, s.seq];

/** legacy_export (v0): freq_cis is written as zeros (the loader skips it). */
export function writeV0(m: SyntheticModel): Uint8Array {
  const s = m.shape;
  const b = new Bytes().i32(...params(s, s.shared ? s.vocab : -s.vocab)).f32(m.tokEmbedding, ...m.attNorm, ...m.wq, ...m.wk, ...m.wv, ...m.wo,
    ...m.ffnNorm, ...m.w1, ...m.w2, ...m.w3, m.finalNorm, new Float32Array(s.seq * (s.dim / s.heads)));
  if (m.wcls) b.f32(m.wcls);
  return b.done();
}

/** The matrices export.py quantizes in version2_export, in its order. */
const matrices = (m: SyntheticModel) => [m.tokEmbedding, ...m.wq, ...m.wk, ...m.wv, ...m.wo, ...m.w1, ...m.w2, ...m.w3, ...(m.wcls ? [m.wcls] : [])];

/** version1_export (v1). */
export function writeV1(m: SyntheticModel): Uint8Array {
  const s = m.shape;
  const b = new Bytes().i32(0x616b3432, 1, ...params(s, s.vocab)).u8(s.shared ? 1 : 0).padTo(256)
    .f32(...m.attNorm, ...m.ffnNorm, m.finalNorm, m.tokEmbedding, ...m.wq, ...m.wk, ...m.wv, ...m.wo, ...m.w1, ...m.w2, ...m.w3);
  if (m.wcls) b.f32(m.wcls);
  return b.done();
}

/** quantize_q80: per group, scale = max|w| / 127 (f32), q = round(w / scale) (numpy/torch round half to even). */
export function quantizeQ80(w: Float32Array, groupSize: number): { q: Int8Array; scale: Float32Array } {
  const q = new Int8Array(w.length), scale = new Float32Array(w.length / groupSize);
  for (let g = 0; g < scale.length; g++) {
    let max = 0;
    for (let i = 0; i < groupSize; i++) max = Math.max(max, Math.abs(w[g * groupSize + i]!));
    scale[g] = max / 127;
    for (let i = 0; i < groupSize; i++) {
      const x = Math.fround(w[g * groupSize + i]! / scale[g]!);
      const r = Math.round(x);
      q[g * groupSize + i] = Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : r;
    }
  }
  return { q, scale };
}

/** version2_export (v2) with `groupSize`; returns the bytes and each quantized matrix's dequantized values (q · scale in f32). */
export function writeV2(m: SyntheticModel, groupSize: number): { bytes: Uint8Array; dequantized: Float32Array[] } {
  const s = m.shape;
  const quantized = matrices(m).map((w) => quantizeQ80(w, groupSize));
  const bytes = new Bytes().i32(0x616b3432, 2, ...params(s, s.vocab)).u8(s.shared ? 1 : 0).i32(groupSize).padTo(256)
    .f32(...m.attNorm, ...m.ffnNorm, m.finalNorm).i8(...quantized.map((x) => x.q)).f32(...quantized.map((x) => x.scale)).done();
  const dequantized = quantized.map(({ q, scale }) => Float32Array.from(q, (v, i) => Math.fround(v * scale[Math.floor(i / groupSize)]!)));
  return { bytes, dequantized };
}

/** The model's tensors under Hugging Face names (q/k rows as llama2.c stores them), as loaders should return them. */
export function hfView(m: SyntheticModel, matricesOverride?: Float32Array[]): Map<string, Float32Array> {
  const L = m.shape.layers;
  const mats = matricesOverride ?? matrices(m);
  const kinds = ["wq", "wk", "wv", "wo", "w1", "w2", "w3"] as const;
  const out = new Map<string, Float32Array>([["model.embed_tokens.weight", mats[0]!], ["model.norm.weight", m.finalNorm]]);
  kinds.forEach((k, j) => {
    for (let i = 0; i < L; i++) out.set(`model.layers.${i}.${HF_NAMES[k]}.weight`, mats[1 + j * L + i]!);
  });
  for (let i = 0; i < L; i++) {
    out.set(`model.layers.${i}.${HF_NAMES.attNorm}.weight`, m.attNorm[i]!);
    out.set(`model.layers.${i}.${HF_NAMES.ffnNorm}.weight`, m.ffnNorm[i]!);
  }
  if (m.wcls) out.set("lm_head.weight", mats[1 + 7 * L]!);
  return out;
}
