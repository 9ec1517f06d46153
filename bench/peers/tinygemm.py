"""PyTorch peer for bench/linear_int4.ts: tinygemm (torch.ops.aten._weight_int4pack_mm) timings.

Usage: python3 bench/peers/tinygemm.py '<json list of [m, n, k]>' <group_size> <inner_k_tiles>
CUDA events around each call, L2 flushed before each sample, median of 50 after warm-up; JSON out.
"""
import json
import sys

import torch


def main() -> None:
    shapes = json.loads(sys.argv[1])
    group, tiles = int(sys.argv[2]), int(sys.argv[3])
    dev = torch.device("cuda")
    flush = torch.empty(2 * torch.cuda.get_device_properties(0).L2_cache_size, dtype=torch.uint8, device=dev)
    out = []
    for m, n, k in shapes:
        q = torch.randint(0, 16, (n, k), dtype=torch.int32, device=dev)
        packed = torch.ops.aten._convert_weight_to_int4pack((q[:, ::2] << 4 | q[:, 1::2]).to(torch.uint8), tiles)
        sz = torch.randn(k // group, n, 2, dtype=torch.bfloat16, device=dev) * 0.01
        x = torch.randn(m, k, dtype=torch.bfloat16, device=dev)
        for _ in range(5):
            torch.ops.aten._weight_int4pack_mm(x, packed, group, sz)
        events = []
        for _ in range(50):
            flush.zero_()
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            torch.ops.aten._weight_int4pack_mm(x, packed, group, sz)
            b.record()
            events.append((a, b))
        torch.cuda.synchronize()
        us = sorted(a.elapsed_time(b) * 1000 for a, b in events)
        out.append({"m": m, "n": n, "k": k, "us": us[len(us) // 2]})
    print(json.dumps({"torch": torch.__version__, "rows": out}))


if __name__ == "__main__":
    main()
