/**
 * awq(model, opts): activation-aware int4 weight-only quantization (Lin et al. 2023, AWQ) for a Llama.
 * Linears that read the same input form a group whose input channels share a scale s (q/k/v after
 * input_layernorm, gate/up after post_attention_layernorm, o_proj after v_proj when every head has
 * its own kv head, lm_head after the final norm). One calibration pass over the float model gives,
 * per group, mean |x_j| and G = XᵀX / rows (InputStatsObserver); for α on a grid of `grid` points in
 * [0, 1), s = mean|x|^α (normalised by √(max s · min s)) is scored by the group's output error
 * Σ_layers tr(ΔW·G·ΔWᵀ), ΔW = RTN(W·diag(s))·diag(1/s) − W, and the best α kept (α = 0 is plain RTN,
 * so the chosen scale never scores worse than RTN). s is folded into the op before the group (norm
 * weight or v_proj rows divided by s, the group's weights' columns multiplied by s), which leaves
 * the float model's function unchanged, and every Linear is then quantized with int4WeightOnly
 * (round-to-nearest, the int4 layouts). Not done: AWQ's weight-clipping search; o_proj under
 * grouped-query attention (its input channels do not map one to one onto v_proj's rows) and groups
 * whose K the group size does not divide get no scale (plain RTN, or float where RTN skips them).
 */
import { invalid } from "../errors.ts";
import { fromArray } from "../creation.ts";
import { Tensor } from "../tensor.ts";
import type { Linear, Module } from "../nn/index.ts";
import type { Llama } from "../models/llama.ts";
import { headDim } from "../models/llama_config.ts";
import type { InnerKTiles } from "../dtypes/tensor_core_tiled.ts";
import { int4WeightOnly, quantize, type QuantizeReport } from "./quant_api.ts";
import { runCalibration, type Calibration } from "./calibration_run.ts";
import { InputStatsObserver } from "./input_stats.ts";
import { dequantizeGroups, rtnGroups } from "./int4_groups.ts";
import { layerProgress } from "./progress.ts";

/** Options of awq(). */
export interface AwqOptions {
  /** Default 128; 32, 64, 128 or 256 for the tensor_core_tiled layout. */
  groupSize?: number;
  /** What is run through the model (token sequences or a function). */
  calibration: Calibration;
  /** Points of the α grid, α = i / grid (default 20, as AWQ). */
  grid?: number;
  layout?: "tensor_core_tiled" | "plain";
  innerKTiles?: InnerKTiles;
  /** Show a progress bar (default: when stderr is a TTY). */
  progress?: boolean;
}

/**
 * Linears sharing one input, and the parameter (a norm weight, or a Linear's weight rows from
 * `firstRow` on) the scale folds into.
 */
interface ScaleGroup {
  name: string;
  linears: Linear[];
  fold: { module: Module; rows: boolean; firstRow?: number } | null;
}

/** The scaling groups of a Llama, in forward order (fused q|k|v and gate|up: one Linear each, v and up as row ranges). */
function scaleGroups(model: Llama): ScaleGroup[] {
  const c = model.config, root = model.getModule("model"), groups: ScaleGroup[] = [];
  const lin = (m: Module, name: string) => m.getModule(name) as Linear;
  const vRow = (c.nHeads + c.nKvHeads) * headDim(c);
  for (let l = 0; l < c.nLayers; l++) {
    const layer = root.getModule("layers").getModule(String(l)), attn = layer.getModule("self_attn"), mlp = layer.getModule("mlp");
    const at = `model.layers.${l}`, f = model.fused;
    const v = f ? { module: lin(attn, "qkv_proj"), rows: true, firstRow: vRow } : { module: lin(attn, "v_proj"), rows: true };
    const up = f ? { module: lin(mlp, "gate_up_proj"), rows: true, firstRow: c.hiddenDim } : { module: lin(mlp, "up_proj"), rows: true };
    const qkv = f ? [lin(attn, "qkv_proj")] : ["q_proj", "k_proj", "v_proj"].map((n) => lin(attn, n));
    const gateUp = f ? [lin(mlp, "gate_up_proj")] : [lin(mlp, "gate_proj"), lin(mlp, "up_proj")];
    groups.push({ name: `${at}.self_attn.qkv`, linears: qkv, fold: { module: layer.getModule("input_layernorm"), rows: false } });
    groups.push({ name: `${at}.self_attn.o_proj`, linears: [lin(attn, "o_proj")], fold: c.nKvHeads === c.nHeads ? v : null });
    groups.push({ name: `${at}.mlp.gate_up`, linears: gateUp, fold: { module: layer.getModule("post_attention_layernorm"), rows: false } });
    groups.push({ name: `${at}.mlp.down_proj`, linears: [lin(mlp, "down_proj")], fold: up });
  }
  groups.push({ name: "lm_head", linears: [model.getModule("lm_head") as Linear], fold: { module: root.getModule("norm"), rows: false } });
  return groups;
}

/** Σ over rows of Δ·G·Δᵀ for Δ = what − w ([n, k]). */
function outputError(w: Float64Array, what: Float64Array, g: Float64Array, n: number, k: number): number {
  let total = 0;
  const d = new Float64Array(k);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < k; j++) d[j] = what[r * k + j]! - w[r * k + j]!;
    for (let i = 0; i < k; i++) {
      if (d[i] === 0) continue;
      let s = 0;
      for (let j = 0; j < k; j++) s += g[i * k + j]! * d[j]!;
      total += d[i]! * s;
    }
  }
  return total;
}

/** s = max(m, 1e-4)^α per channel, divided by √(max s · min s). */
function scalesFor(absMean: Float64Array, alpha: number): Float64Array {
  const s = absMean.map((m) => Math.max(m, 1e-4) ** alpha);
  const norm = Math.sqrt(Math.max(...s) * Math.min(...s));
  return s.map((v) => v / norm);
}

/** The α of the grid (and its scale) with the least output error of the group's RTN weights. */
function searchScale(weights: Float64Array[], ns: number[], k: number, stats: InputStatsObserver, groupSize: number, grid: number): Float64Array {
  const g = stats.gram(), absMean = stats.absMean();
  let best: { error: number; s: Float64Array } = { error: Infinity, s: new Float64Array(k).fill(1) };
  for (let i = 0; i < grid; i++) {
    const s = scalesFor(absMean, i / grid);
    let error = 0;
    weights.forEach((w, li) => {
      const n = ns[li]!, scaled = w.map((v, idx) => v * s[idx % k]!);
      const back = dequantizeGroups(rtnGroups(scaled, n, k, groupSize)).map((v, idx) => v / s[idx % k]!);
      error += outputError(w, back, g, n, k);
    });
    if (error < best.error) best = { error, s };
  }
  return best.s;
}

/** Replaces `module`'s float parameter `name` by a copy with each element multiplied by f(index). */
function rescale(module: Module, name: string, f: (index: number) => number): void {
  const old = module.getParameter(name);
  if (!(old instanceof Tensor)) throw invalid("awq", `${name} is already quantized`);
  const values = Float32Array.from(old.toArray(), (v, i) => v * f(i));
  using host = fromArray(values, { shape: [...old.shape], dtype: old.dtype });
  const moved = host.to(old.device);
  module.setParameter(name, moved === host ? host.clone() : moved)?.dispose();
}

/**
 * The float half of awq(): calibrates, searches each group's scale and folds it into the model
 * (the model computes the same function up to float rounding). TaoError for bad options or a
 * Linear of a scaled group already quantized.
 */
export function applyAwqScales(model: Llama, opts: AwqOptions): void {
  const op = "awq";
  const { groupSize = 128, calibration, grid = 20, progress } = opts;
  if (!Number.isSafeInteger(groupSize) || groupSize < 1) throw invalid(op, `groupSize must be a positive integer, not ${groupSize}`);
  if (!Number.isSafeInteger(grid) || grid < 1) throw invalid(op, `grid must be a positive integer, not ${grid}`);
  const groups = scaleGroups(model).filter((g) => g.fold !== null && g.linears[0]!.inFeatures % groupSize === 0);
  for (const lin of groups.flatMap((g) => g.linears)) if (!(lin.weight instanceof Tensor)) throw invalid(op, "the model is already quantized");
  const stats = groups.map((g) => (g.linears[0]!.inputObserver = new InputStatsObserver(g.linears[0]!.inFeatures)));
  try {
    runCalibration(model, calibration, op);
  } finally {
    for (const g of groups) g.linears[0]!.inputObserver = null;
  }
  const bar = layerProgress("awq", groups.length, progress);
  try {
    groups.forEach((group, gi) => {
      const k = group.linears[0]!.inFeatures, { module, rows, firstRow = 0 } = group.fold!;
      const weights = group.linears.map((l) => Float64Array.from((l.weight as Tensor).toArray()));
      const s = searchScale(weights, group.linears.map((l) => l.outFeatures), k, stats[gi]!, groupSize, grid);
      for (const l of group.linears) rescale(l, "weight", (i) => s[i % k]!);
      const rowLength = rows ? (module as Linear).inFeatures : 0;
      const row = (i: number) => Math.floor(i / rowLength) - firstRow;
      rescale(module, "weight", rows ? (i) => (row(i) < 0 ? 1 : 1 / s[row(i)]!) : (i) => 1 / s[i]!);
      bar.step(group.name);
    });
  } finally {
    bar.stop();
  }
}

/**
 * Quantizes `model`'s Linears in place with AWQ scales and int4 round-to-nearest (see the file
 * comment): applyAwqScales, then quantize() with int4WeightOnly (recorded with algorithm "awq").
 * Linears whose K the group size does not divide stay float and are reported.
 */
export function awq(model: Llama, opts: AwqOptions): QuantizeReport {
  const { groupSize = 128, layout = "tensor_core_tiled", innerKTiles = 8 } = opts;
  const config = int4WeightOnly({ groupSize, layout, innerKTiles });
  applyAwqScales(model, opts);
  return quantize(model, { ...config, record: { ...config.record, algorithm: "awq" } });
}
