"""PyTorch peer for bench/linear.ts: F.linear (cuBLAS) timings on the same shapes, printed as JSON.

Usage: python3 bench/peers/linear.py '<json list of [m, n, k]>' <dtype>
Times with CUDA events around each call, L2 flushed before each sample, median of 50 after warm-up.
"""
import json
import sys

import torch
import torch.nn.functional as F


def main() -> None:
    shapes = json.loads(sys.argv[1])
    dtype = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}[sys.argv[2]]
    torch.backends.cuda.matmul.allow_tf32 = False
    dev = torch.device("cuda")
    flush = torch.empty(2 * torch.cuda.get_device_properties(0).L2_cache_size, dtype=torch.uint8, device=dev)
    out = []
    for m, n, k in shapes:
        x = torch.randn(m, k, dtype=dtype, device=dev)
        w = torch.randn(n, k, dtype=dtype, device=dev)
        for _ in range(5):
            F.linear(x, w)
        times = []
        for _ in range(50):
            flush.zero_()
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            F.linear(x, w)
            b.record()
            times.append((a, b))
        torch.cuda.synchronize()
        us = sorted(a.elapsed_time(b) * 1000 for a, b in times)
        out.append({"m": m, "n": n, "k": k, "us": us[len(us) // 2]})
    print(json.dumps({"torch": torch.__version__, "rows": out}))


if __name__ == "__main__":
    main()
