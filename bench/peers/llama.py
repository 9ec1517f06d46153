"""PyTorch peer for bench/llama.ts: the Llama architecture of lib/models/llama.ts (RMSNorm, RoPE in the
"half" (rotate_half) order, grouped-query attention over a static KV cache, SwiGLU MLP, tied or untied
lm_head) written gpt-fast style: synthetic seeded weights in bf16, q/k/v as one projection, batch 1
greedy decode with the whole step (model + argmax) under torch.compile(mode="max-autotune", fullgraph),
i.e. Inductor with autotuned GEMMs and CUDA graphs (cudagraph trees). Schemes: "bf16", and "int4wo-<g>":
every Linear (lm_head included, as bench/llama.ts quantizes it) as tinygemm int4
(torch.ops.aten._weight_int4pack_mm, what torchao's int4_weight_only runs: asymmetric groups of g along
k, bf16 scales and float zero points, inner_k_tiles 8).

Timing, as bench/llama_timing.ts's decodeSeconds: an 8-token prompt (eager prefill), then `steps`
decode steps the way gpt-fast runs them (compiled step, position += 1, the token fed back, no host sync
per token), CUDA events around the steps; the median of 3 runs after one warm-up run. The warm-up run
compiles (and autotunes, and records the graphs): its wall time is reported as compile_s.

Usage: python3 bench/peers/llama.py [--config JSON] [--schemes bf16,int4wo-128] [--steps 64]
       [--mode max-autotune] [--out FILE]
--config takes lib/models' LlamaConfig fields (default: the llama3-8b preset). The JSON result goes to
FILE (default $TAO_BENCH_OUT/llama-peer.json when TAO_BENCH_OUT is set; rewritten after each scheme) and
to stdout; progress to stderr.
"""
import argparse
import json
import os
import re
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

# lib/models/llama_config.ts's llama3-8b preset (the fields this peer reads).
LLAMA3_8B = {"dim": 4096, "hiddenDim": 14336, "nLayers": 32, "nHeads": 32, "nKvHeads": 8, "vocabSize": 128256,
             "ropeTheta": 500000, "normEps": 1e-5, "tiedEmbeddings": False}
PROMPT = 8
INNER_K_TILES = 8


START = time.perf_counter()


def log(msg: str) -> None:
    print(f"[llama peer {time.perf_counter() - START:6.1f} s] {msg}", file=sys.stderr, flush=True)


class RMSNorm(nn.Module):
    """y = x / sqrt(mean(x²) + eps) · w, in f32, rounded once (as tao_rms_norm)."""

    def __init__(self, dim: int, eps: float, **f):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim, **f))

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight.float()).type_as(x)


def rope(x, cos, sin):
    """RoPE in the "half" order: pair i of a head is (i, i + headDim/2). x [B, T, H, D]; cos, sin [T, D/2] f32."""
    half = x.shape[-1] // 2
    xf = x.float()
    x1, x2 = xf[..., :half], xf[..., half:]
    c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.cat([x1 * c - x2 * s, x2 * c + x1 * s], dim=-1).type_as(x)


class Attention(nn.Module):
    """Grouped-query attention; the KV cache [1, nKvHeads, capacity, headDim] is a pair of buffers (static for CUDA graphs)."""

    def __init__(self, c: dict, **f):
        super().__init__()
        self.nh, self.nkv, self.hd = c["nHeads"], c["nKvHeads"], c["dim"] // c["nHeads"]
        self.wqkv = nn.Linear(c["dim"], (self.nh + 2 * self.nkv) * self.hd, bias=False, **f)
        self.wo = nn.Linear(self.nh * self.hd, c["dim"], bias=False, **f)

    def forward(self, x, cos, sin, mask, pos):
        b, t, _ = x.shape
        q, k, v = self.wqkv(x).split([self.nh * self.hd, self.nkv * self.hd, self.nkv * self.hd], dim=-1)
        q = rope(q.view(b, t, self.nh, self.hd), cos, sin).transpose(1, 2)
        k = rope(k.view(b, t, self.nkv, self.hd), cos, sin).transpose(1, 2)
        v = v.view(b, t, self.nkv, self.hd).transpose(1, 2)
        self.k_cache[:, :, pos] = k
        self.v_cache[:, :, pos] = v
        g = self.nh // self.nkv
        y = F.scaled_dot_product_attention(q, self.k_cache.repeat_interleave(g, dim=1), self.v_cache.repeat_interleave(g, dim=1), attn_mask=mask)
        return self.wo(y.transpose(1, 2).reshape(b, t, self.nh * self.hd))


class Block(nn.Module):
    def __init__(self, c: dict, **f):
        super().__init__()
        self.attention_norm = RMSNorm(c["dim"], c["normEps"], **f)
        self.attention = Attention(c, **f)
        self.ffn_norm = RMSNorm(c["dim"], c["normEps"], **f)
        self.w1 = nn.Linear(c["dim"], c["hiddenDim"], bias=False, **f)  # gate
        self.w3 = nn.Linear(c["dim"], c["hiddenDim"], bias=False, **f)  # up
        self.w2 = nn.Linear(c["hiddenDim"], c["dim"], bias=False, **f)  # down

    def forward(self, x, cos, sin, mask, pos):
        h = x + self.attention(self.attention_norm(x), cos, sin, mask, pos)
        n = self.ffn_norm(h)
        return h + self.w2(F.silu(self.w1(n)) * self.w3(n))


class Llama(nn.Module):
    """forward(ids [B, T], pos [T]) -> logits [B, T, V]; the tokens sit at positions pos of the cache."""

    def __init__(self, c: dict, device: str, dtype: torch.dtype):
        super().__init__()
        f = {"device": device, "dtype": dtype}
        self.c = c
        self.tok_embeddings = nn.Embedding(c["vocabSize"], c["dim"], **f)  # N(0, 1)
        self.layers = nn.ModuleList(Block(c, **f) for _ in range(c["nLayers"]))
        self.norm = RMSNorm(c["dim"], c["normEps"], **f)
        self.output = nn.Linear(c["dim"], c["vocabSize"], bias=False, **f)  # uniform ±1/sqrt(dim), as every Linear
        if c["tiedEmbeddings"]:
            self.output.weight = self.tok_embeddings.weight

    def setup_cache(self, capacity: int) -> None:
        """Static KV cache, causal mask and RoPE tables for `capacity` positions (batch 1)."""
        p = self.tok_embeddings.weight
        hd = self.c["dim"] // self.c["nHeads"]
        for layer in self.layers:
            for name in ("k_cache", "v_cache"):
                layer.attention.register_buffer(name, torch.zeros(1, self.c["nKvHeads"], capacity, hd, device=p.device, dtype=p.dtype))
        self.register_buffer("causal", torch.tril(torch.ones(capacity, capacity, dtype=torch.bool, device=p.device)))
        inv = self.c["ropeTheta"] ** (-torch.arange(0, hd, 2, device=p.device, dtype=torch.float64) / hd)
        angles = torch.outer(torch.arange(capacity, device=p.device, dtype=torch.float64), inv)
        self.register_buffer("cos", angles.cos().float())
        self.register_buffer("sin", angles.sin().float())

    def forward(self, ids, pos):
        mask, cos, sin = self.causal[None, None, pos], self.cos[pos], self.sin[pos]
        x = self.tok_embeddings(ids)
        for layer in self.layers:
            x = layer(x, cos, sin, mask, pos)
        return self.output(self.norm(x))


class Int4Linear(nn.Module):
    """y = x Wᵀ with W as tinygemm int4 (torchao's int4_weight_only): per group of `group` along k,
    scale = (max − min) / 15, zero = min + 8·scale (bf16), q = round((w − min) / scale) in 0..15."""

    def __init__(self, weight, group: int):
        super().__init__()
        n, k = weight.shape
        self.n, self.k, self.group = n, k, group
        w = weight.detach().float().reshape(-1, group)
        lo, hi = w.amin(1, keepdim=True), w.amax(1, keepdim=True)
        scale = ((hi - lo).clamp(min=1e-6) / 15).to(torch.bfloat16)
        zero = (lo + scale.float() * 8).to(torch.bfloat16)
        low = zero.float() - scale.float() * 8
        q = ((w - low) / scale.float()).round().clamp(0, 15).to(torch.int32).reshape(n, k)
        del w
        packed = torch.ops.aten._convert_weight_to_int4pack((q[:, ::2] << 4 | q[:, 1::2]).to(torch.uint8), INNER_K_TILES)
        sz = torch.cat([scale.reshape(n, k // group, 1), zero.reshape(n, k // group, 1)], 2).transpose(0, 1).contiguous()
        self.register_buffer("packed", packed)
        self.register_buffer("scales_and_zeros", sz)

    def forward(self, x):
        y = torch.ops.aten._weight_int4pack_mm(x.reshape(-1, self.k), self.packed, self.group, self.scales_and_zeros)
        return y.reshape(*x.shape[:-1], self.n)


def quantize_int4(model: nn.Module, group: int) -> None:
    """Replaces every nn.Linear of `model` by an Int4Linear (freeing the bf16 weight as it goes)."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                if child.in_features % group or child.in_features % (INNER_K_TILES * 16) or child.out_features % 8:
                    raise SystemExit(f"int4wo-{group}: a Linear of {child.in_features} -> {child.out_features} does not fit tinygemm")
                setattr(parent, name, Int4Linear(child.weight, group))
    torch.cuda.empty_cache()


def decode_one_token(model, token, pos):
    """One decode step: the logits of `token` [1, 1] at `pos` [1], then their argmax [1, 1] (int32)."""
    logits = model(token, pos)
    return torch.argmax(logits[:, -1], dim=-1, keepdim=True).to(torch.int)


def decode_seconds(step, model, first, steps: int) -> float:
    """Seconds of `steps` decode steps from position PROMPT (CUDA events around the host loop)."""
    pos = torch.tensor([PROMPT], device=first.device)
    token = first.clone()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(steps):
        torch.compiler.cudagraph_mark_step_begin()
        nxt = step(model, token, pos)
        pos += 1
        token = nxt.clone()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3


def run_scheme(model: Llama, scheme: str, mode: str, steps: int) -> dict:
    """Compiles the decode step for `model` (already in `scheme`), warms up, times 3 runs."""
    from torch._dynamo.utils import counters

    skips_before = counters["inductor"]["cudagraph_skips"]
    device = model.tok_embeddings.weight.device
    weights = sum(t.numel() * t.element_size() for n, t in list(model.named_parameters()) + list(model.named_buffers())
                  if not n.endswith(("k_cache", "v_cache", "causal", "cos", "sin")))
    torch.cuda.reset_peak_memory_stats()
    prompt = torch.tensor([[(i * 2654435761 + 1) % model.c["vocabSize"] for i in range(PROMPT)]], device=device)
    with torch.no_grad():
        first = decode_one_token(model, prompt, torch.arange(PROMPT, device=device))
        step = torch.compile(decode_one_token, mode=mode, fullgraph=True)
        t0 = time.perf_counter()
        decode_seconds(step, model, first, steps)
        compile_s = time.perf_counter() - t0
        log(f"{scheme}: compiled and warmed up in {compile_s:.1f} s")
        runs = [decode_seconds(step, model, first, steps) for _ in range(3)]
    s = statistics.median(runs)
    out = {"tok_s": steps / s, "step_ms": s / steps * 1e3, "runs_s": runs, "compile_s": compile_s, "weights_gb": weights / 1e9,
           "peak_gb": torch.cuda.max_memory_allocated() / 1e9, "cudagraph_skips": counters["inductor"]["cudagraph_skips"] - skips_before}
    log(f"{scheme}: {out['tok_s']:.1f} tok/s ({out['step_ms']:.3f} ms/step)")
    return out


def main() -> None:
    from torch._inductor import list_mode_options

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=json.dumps(LLAMA3_8B), help="LlamaConfig JSON (lib/models/llama_config.ts field names)")
    ap.add_argument("--schemes", default="bf16,int4wo-128", help="bf16 and/or int4wo-<group>, comma-separated")
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--mode", default="max-autotune", help="torch.compile mode")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    config = {**LLAMA3_8B, **json.loads(a.config)}
    schemes = a.schemes.split(",")
    for s in schemes:
        if s != "bf16" and not re.fullmatch(r"int4wo-\d+", s):
            raise SystemExit(f"unknown scheme {s!r} (bf16 or int4wo-<group>)")
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device visible to PyTorch")
    result = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0), "mode": a.mode,
              "mode_options": list_mode_options(a.mode), "config": config, "steps": a.steps, "prompt": PROMPT, "schemes": {}}
    out = a.out or (os.path.join(os.environ["TAO_BENCH_OUT"], "llama-peer.json") if os.environ.get("TAO_BENCH_OUT") else None)
    for s in schemes:
        # Each scheme starts from the same seeded bf16 model (quantizing replaces its weights in place).
        torch.manual_seed(a.seed)
        t0 = time.perf_counter()
        model = Llama(config, "cuda", torch.bfloat16).eval()
        if s != "bf16":
            with torch.no_grad():
                quantize_int4(model, int(s.split("-")[1]))
        model.setup_cache(-(-(PROMPT + a.steps + 1) // 8) * 8)
        log(f"{s}: model built in {time.perf_counter() - t0:.1f} s")
        result["schemes"][s] = run_scheme(model, s, a.mode, a.steps)
        torch._dynamo.reset()  # drops the compiled step, its CUDA graphs and its hold on the model
        del model
        torch.cuda.empty_cache()
        if out:  # after every scheme, so a run stopped midway keeps what it measured
            with open(out, "w") as fh:
                fh.write(json.dumps(result) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
