/**
 * llama2.c checkpoints (karpathy/llama2.c, export.py and run.c), little-endian:
 * - v0 (legacy): 7 × int32 header dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size (negative:
 *   a separate classifier at the end), seq_len; then f32 arrays, each stacked over layers:
 *   embedding, att norms, wq, wk, wv, wo, ffn norms, w1, w2, w3, final norm, freq_cis real and imag
 *   (seq_len × head_size/2 each, unused), [classifier].
 * - v1: a 256-byte header: uint32 magic 0x616b3432 ("ak42"), int32 version 1, the 7 int32s
 *   (vocab_size positive), uint8 shared_classifier, zeros; then f32: att norms, ffn norms, final norm,
 *   embedding, wq, wk, wv, wo, w1, w2, w3, [classifier].
 * - v2: as v1 with version 2 and an int32 group_size after the flag (byte 37); then f32 att norms,
 *   ffn norms, final norm; then Q8_0 int8 values of embedding, wq…, wk…, wv…, wo…, w1…, w2…, w3…,
 *   [classifier] (each layer's matrix its own tensor), then every f32 scale in the same order:
 *   one per group of group_size consecutive values, value = q · scale.
 * w1 is the SwiGLU gate, w3 the up projection, w2 down. wq/wk rows are in the interleaved RoPE order.
 */
import { ErrorCode, invalid, TaoError } from "../errors.ts";
import { fromArray } from "../creation.ts";
import { bufferSource, withFileSource, type ByteSource } from "../serialization/byte_source.ts";
import type { Tensor } from "../tensor.ts";
import { dequantizeAffine, ZeroPointDomain } from "../quantization/primitives.ts";
import { headDim, llamaParameterCount, validateLlamaConfig, type LlamaConfig } from "./llama_config.ts";
import { finishCheckpoint, llamaWeightShapes, type LlamaCheckpoint, type LlamaLoadOptions } from "./llama_weights.ts";

/** "ak42": the first uint32 of v1+ files. */
export const LLAMA2C_MAGIC = 0x616b3432;
const V0_HEADER_BYTES = 28;
const VERSIONED_HEADER_BYTES = 256;

/** What a llama2.c header says. */
export interface Llama2cHeader {
  version: 0 | 1 | 2;
  config: LlamaConfig;
  /** Q8_0 group size (v2), else null. */
  groupSize: number | null;
  /** Bytes before the first tensor. */
  headerBytes: number;
}

/**
 * Decodes and validates the header at the start of `bytes` (validateLlamaConfig, plus the format's
 * own fields: version, classifier flag, group size, zero padding). A bad header is a TaoError
 * naming `where` (a path, or empty); an unknown version is UNSUPPORTED.
 */
export function parseLlama2cHeader(bytes: Uint8Array, op = "parseLlama2cHeader", where = ""): Llama2cHeader {
  const fail = (detail: string, code: number = ErrorCode.INVALID_ARGUMENT) => new TaoError(code, op, `${where ? where + ": " : ""}${detail}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < V0_HEADER_BYTES) throw fail(`${bytes.length} bytes is shorter than a llama2.c header`);
  const versioned = dv.getUint32(0, true) === LLAMA2C_MAGIC;
  const version = versioned ? dv.getInt32(4, true) : 0;
  if (version !== 0 && version !== 1 && version !== 2) throw fail(`llama2.c format version ${version} is not supported (0, 1, 2 are)`, ErrorCode.UNSUPPORTED);
  if (versioned && bytes.length < VERSIONED_HEADER_BYTES) throw fail(`${bytes.length} bytes is shorter than a v${version} header (256)`);
  const at = versioned ? 8 : 0;
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, rawVocab, seqLen] = Array.from({ length: 7 }, (_, i) => dv.getInt32(at + 4 * i, true)) as number[];
  let tied = rawVocab! > 0;
  let padFrom = V0_HEADER_BYTES;
  let groupSize: number | null = null;
  if (versioned) {
    const flag = bytes[36]!;
    if (flag > 1) throw fail(`shared_classifier flag is ${flag}, not 0 or 1`);
    if (rawVocab! < 1) throw fail(`vocab_size must be positive in a v${version} header, not ${rawVocab}`);
    tied = flag === 1;
    padFrom = 37;
    if (version === 2) {
      groupSize = dv.getInt32(37, true);
      if (groupSize < 1) throw fail(`group_size must be positive, not ${groupSize}`);
      padFrom = 41;
    }
    const nonzero = bytes.subarray(padFrom, VERSIONED_HEADER_BYTES).findIndex((b) => b !== 0);
    if (nonzero >= 0) throw fail(`header byte ${padFrom + nonzero} is ${bytes[padFrom + nonzero]}; the padding must be zeros`);
  }
  const config: LlamaConfig = {
    dim: dim!, hiddenDim: hiddenDim!, nLayers: nLayers!, nHeads: nHeads!, nKvHeads: nKvHeads!,
    vocabSize: Math.abs(rawVocab!), seqLen: seqLen!, ropeTheta: 10000, normEps: 1e-5,
    tiedEmbeddings: tied, ropeStyle: "interleaved",
  };
  validateLlamaConfig(config, op, where);
  return { version: version as 0 | 1 | 2, config, groupSize, headerBytes: versioned ? VERSIONED_HEADER_BYTES : V0_HEADER_BYTES };
}

/** One array of the file: a weight's HF name, or null for data the loader skips; its element count. */
interface Entry {
  name: string | null;
  numel: number;
}

/** The file's arrays after the header: f32 ones in order, then (v2) the Q8_0-quantized weights. */
function fileLayout(h: Llama2cHeader): { floats: Entry[]; quantized: Entry[] } {
  const c = h.config;
  const shapes = llamaWeightShapes(c);
  const entry = (name: string): Entry => ({ name, numel: shapes.get(name)!.reduce((a, b) => a * b, 1) });
  const layers = (suffix: string) => Array.from({ length: c.nLayers }, (_, i) => entry(`model.layers.${i}.${suffix}`));
  const embed = [entry("model.embed_tokens.weight")];
  const norms = [...layers("input_layernorm.weight"), ...layers("post_attention_layernorm.weight"), entry("model.norm.weight")];
  const cls = c.tiedEmbeddings ? [] : [entry("lm_head.weight")];
  const matrices = [
    ...layers("self_attn.q_proj.weight"), ...layers("self_attn.k_proj.weight"), ...layers("self_attn.v_proj.weight"),
    ...layers("self_attn.o_proj.weight"), ...layers("mlp.gate_proj.weight"), ...layers("mlp.down_proj.weight"),
    ...layers("mlp.up_proj.weight"),
  ];
  if (h.version === 0) {
    const attn = matrices.slice(0, 4 * c.nLayers), ffn = matrices.slice(4 * c.nLayers);
    const freqCis: Entry = { name: null, numel: c.seqLen * headDim(c) }; // real and imag halves
    return {
      floats: [...embed, ...layers("input_layernorm.weight"), ...attn, ...layers("post_attention_layernorm.weight"), ...ffn,
        entry("model.norm.weight"), freqCis, ...cls],
      quantized: [],
    };
  }
  if (h.version === 1) return { floats: [...norms, ...embed, ...matrices, ...cls], quantized: [] };
  return { floats: norms, quantized: [...embed, ...matrices, ...cls] };
}

/**
 * The file size the header implies, computed in closed form before anything proportional to the
 * header's sizes is built (a lying header may claim 2^31 layers). For v2, every quantized matrix's
 * size must be a multiple of the group size.
 */
function expectedFileBytes(h: Llama2cHeader, op: string, where: string): number {
  const c = h.config, hd = headDim(c);
  const params = llamaParameterCount(c);
  if (h.version === 0) return h.headerBytes + 4 * (params + c.seqLen * hd);
  if (h.version === 1) return h.headerBytes + 4 * params;
  const gs = h.groupSize!;
  const matrices = { embedding: c.vocabSize * c.dim, wq: c.dim * c.dim, wk: c.nKvHeads * hd * c.dim, w1: c.hiddenDim * c.dim };
  const bad = Object.entries(matrices).find(([, n]) => n % gs !== 0);
  if (bad) throw invalid(op, `${where ? where + ": " : ""}${bad[0]} has ${bad[1]} values, not a multiple of group_size ${gs}`);
  const norms = (2 * c.nLayers + 1) * c.dim, q = params - norms;
  return h.headerBytes + 4 * norms + q + 4 * (q / gs);
}

/** `numel` f32 values of `src` at `offset` (a view when aligned, else a copy). */
function f32At(src: ByteSource, offset: number, numel: number): Float32Array {
  const b = src.read(offset, 4 * numel);
  if (b.byteOffset % 4 === 0) return new Float32Array(b.buffer as ArrayBuffer, b.byteOffset, numel);
  return new Float32Array(b.slice().buffer);
}

/**
 * Parses a whole llama2.c checkpoint (v0, v1 or v2) held in `bytes` into Hugging Face-named weights
 * (see llamaWeightShapes), converted as `opts` says (default f32 on the CPU, interleaved RoPE rows;
 * v2 weights are dequantized, q · scale in f32). The header is validated and the file's size must be
 * exactly what it implies before any tensor is read; every failure is a TaoError. Weights of the
 * default options are views of `bytes` where aligned.
 */
export function parseLlama2c(bytes: Uint8Array, opts: LlamaLoadOptions = {}): LlamaCheckpoint {
  return readLlama2c(bufferSource(bytes), opts, "parseLlama2c", "");
}

/**
 * Loads a llama2.c checkpoint file (v0, v1 or v2), as parseLlama2c, reading the header first and
 * then each tensor into its own buffer (files of any size). Errors name the path.
 */
export function loadLlama2c(path: string, opts: LlamaLoadOptions = {}): LlamaCheckpoint {
  const op = "loadLlama2c";
  return withFileSource(path, op, (src) => readLlama2c(src, opts, op, path));
}

function readLlama2c(src: ByteSource, opts: LlamaLoadOptions, op: string, where: string): LlamaCheckpoint {
  const h = parseLlama2cHeader(src.read(0, Math.min(src.size, VERSIONED_HEADER_BYTES)), op, where);
  const expected = expectedFileBytes(h, op, where);
  if (expected !== src.size) {
    throw invalid(op, `${where ? where + ": " : ""}the v${h.version} header implies ${expected} bytes, the file has ${src.size}`);
  }
  const { floats, quantized } = fileLayout(h);
  const gs = h.groupSize ?? 1;
  const sum = (es: Entry[]) => es.reduce((a, e) => a + e.numel, 0);
  const shapes = llamaWeightShapes(h.config);
  const raw = new Map<string, Tensor>();
  let offset = h.headerBytes;
  for (const e of floats) {
    if (e.name !== null) raw.set(e.name, fromArray(f32At(src, offset, e.numel), { shape: shapes.get(e.name)! }));
    offset += 4 * e.numel;
  }
  let scaleOffset = offset + sum(quantized);
  for (const e of quantized) {
    const groups = e.numel / gs;
    const qBytes = src.read(offset, e.numel);
    const q = fromArray(new Int8Array(qBytes.buffer as ArrayBuffer, qBytes.byteOffset, e.numel), { shape: [groups, gs] });
    const scale = fromArray(f32At(src, scaleOffset, groups), { shape: [groups, 1] });
    const w = dequantizeAffine(q, [1, gs], scale, null, "int8", { zeroPointDomain: ZeroPointDomain.NONE, quantMin: -127, quantMax: 127 });
    raw.set(e.name!, w.reshape(...shapes.get(e.name!)!));
    offset += e.numel;
    scaleOffset += 4 * groups;
  }
  return finishCheckpoint(h.config, raw, opts, op);
}
