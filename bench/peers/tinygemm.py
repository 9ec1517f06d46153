"""PyTorch peer for bench/linear_int4.ts: tinygemm (torch.ops.aten._weight_int4pack_mm) timings.

Usage: python3 bench/peers/tinygemm.py '<json list of [m, n, k]>' <group_size> <inner_k_tiles>
(timing: timing.py); JSON out.
"""
import json
import sys

import torch

from timing import median_us


def main() -> None:
    shapes = json.loads(sys.argv[1])
    group, tiles = int(sys.argv[2]), int(sys.argv[3])
    out = []
    for m, n, k in shapes:
        q = torch.randint(0, 16, (n, k), dtype=torch.int32, device="cuda")
        packed = torch.ops.aten._convert_weight_to_int4pack((q[:, ::2] << 4 | q[:, 1::2]).to(torch.uint8), tiles)
        sz = torch.randn(k // group, n, 2, dtype=torch.bfloat16, device="cuda") * 0.01
        x = torch.randn(m, k, dtype=torch.bfloat16, device="cuda")
        out.append({"m": m, "n": n, "k": k, "us": median_us(lambda: torch.ops.aten._weight_int4pack_mm(x, packed, group, sz))})
    print(json.dumps({"torch": torch.__version__, "rows": out}))


if __name__ == "__main__":
    main()
