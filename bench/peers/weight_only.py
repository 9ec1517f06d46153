"""PyTorch peers for bench/linear_weight_only.ts, per [m, n, k]: tinygemm int4
(torch.ops.aten._weight_int4pack_mm, what torchao's int4_weight_only runs), torchao's int8_weight_only
eager formula (torch.mm(x, q.t().to(bf16)) * scale) and the bf16 F.linear, all in microseconds.

Usage: python3 bench/peers/weight_only.py '<json list of [m, n, k]>' <group_size> <inner_k_tiles>
(timing: timing.py); JSON out.
"""
import json
import sys

import torch
import torch.nn.functional as F

from timing import median_us


def main() -> None:
    shapes = json.loads(sys.argv[1])
    group, tiles = int(sys.argv[2]), int(sys.argv[3])
    out = []
    weights = {}
    for m, n, k in shapes:
        if (n, k) not in weights:
            q = torch.randint(0, 16, (n, k), dtype=torch.int32, device="cuda")
            packed = torch.ops.aten._convert_weight_to_int4pack((q[:, ::2] << 4 | q[:, 1::2]).to(torch.uint8), tiles)
            sz = torch.randn(k // group, n, 2, dtype=torch.bfloat16, device="cuda") * 0.01
            q8 = torch.randint(-128, 128, (n, k), dtype=torch.int8, device="cuda")
            s8 = torch.rand(n, dtype=torch.bfloat16, device="cuda") * 0.01
            w = torch.randn(n, k, dtype=torch.bfloat16, device="cuda")
            weights = {(n, k): (packed, sz, q8, s8, w)}
        packed, sz, q8, s8, w = weights[(n, k)]
        x = torch.randn(m, k, dtype=torch.bfloat16, device="cuda")
        out.append({
            "m": m, "n": n, "k": k,
            "tinygemm_us": median_us(lambda: torch.ops.aten._weight_int4pack_mm(x, packed, group, sz)),
            "int8_us": median_us(lambda: torch.mm(x, q8.t().to(torch.bfloat16)) * s8),
            "bf16_us": median_us(lambda: F.linear(x, w)),
        })
    print(json.dumps({"torch": torch.__version__, "rows": out}))


if __name__ == "__main__":
    main()
