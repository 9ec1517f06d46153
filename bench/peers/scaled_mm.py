"""PyTorch peer for bench/linear_float8.ts, per [m, n, k]: torch._scaled_mm alone (e4m3 inputs already
quantized, bf16 out), row-wise (scale_a [m, 1], scale_b [1, n]) and per tensor, and the bf16 F.linear,
all in microseconds (timing: timing.py). No activation quantization is timed: this is the GEMM alone.

Usage: python3 bench/peers/scaled_mm.py '<json list of [m, n, k]>' [fast_accum 0|1]; JSON out.
"""
import json
import sys

import torch
import torch.nn.functional as F

from timing import median_us


def main() -> None:
    shapes = json.loads(sys.argv[1])
    fast = len(sys.argv) > 2 and sys.argv[2] == "1"
    f8 = torch.float8_e4m3fn
    out = []
    weights = {}
    for m, n, k in shapes:
        if (n, k) not in weights:
            w = torch.randn(n, k, dtype=torch.bfloat16, device="cuda")
            weights = {(n, k): (w, w.to(f8), torch.rand(1, n, device="cuda") * 0.01 + 0.001)}
        w, wq, ws = weights[(n, k)]
        x = torch.randn(m, k, dtype=torch.bfloat16, device="cuda")
        xq, xs = x.to(f8), torch.rand(m, 1, device="cuda") * 0.01 + 0.001
        one = torch.ones((), device="cuda")
        wt = wq.t()
        out.append({
            "m": m, "n": n, "k": k,
            "row_us": median_us(lambda: torch._scaled_mm(xq, wt, scale_a=xs, scale_b=ws, out_dtype=torch.bfloat16, use_fast_accum=fast)),
            "tensor_us": median_us(lambda: torch._scaled_mm(xq, wt, scale_a=one, scale_b=one, out_dtype=torch.bfloat16, use_fast_accum=fast)),
            "bf16_us": median_us(lambda: F.linear(x, w)),
        })
    print(json.dumps({"torch": torch.__version__, "rows": out}))


if __name__ == "__main__":
    main()
