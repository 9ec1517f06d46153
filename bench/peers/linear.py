"""PyTorch peer for bench/linear.ts: F.linear (cuBLAS) timings on the same shapes, printed as JSON.

Usage: python3 bench/peers/linear.py '<json list of [m, n, k]>' <dtype>   (timing: timing.py)
"""
import json
import sys

import torch
import torch.nn.functional as F

from timing import median_us


def main() -> None:
    shapes = json.loads(sys.argv[1])
    dtype = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}[sys.argv[2]]
    torch.backends.cuda.matmul.allow_tf32 = False
    out = []
    for m, n, k in shapes:
        x = torch.randn(m, k, dtype=dtype, device="cuda")
        w = torch.randn(n, k, dtype=dtype, device="cuda")
        out.append({"m": m, "n": n, "k": k, "us": median_us(lambda: F.linear(x, w))})
    print(json.dumps({"torch": torch.__version__, "rows": out}))


if __name__ == "__main__":
    main()
