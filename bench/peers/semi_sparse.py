"""PyTorch peer for bench/linear_sparse.ts, per [m, n, k]: F.linear with a 2:4 bf16 weight made by
torch.sparse.to_sparse_semi_structured on its cuSPARSELt backend, and dense bf16 F.linear, in
microseconds (timing: timing.py).

Usage: python3 bench/peers/semi_sparse.py '<json list of [m, n, k]>'; JSON out.
"""
import json
import sys

import torch
import torch.nn.functional as F
from torch.sparse import SparseSemiStructuredTensor, to_sparse_semi_structured

from timing import median_us


def pruned_24(n: int, k: int) -> torch.Tensor:
    w = torch.randn(n, k, dtype=torch.bfloat16, device="cuda")
    g = w.abs().view(n, k // 4, 4)
    keep = g.topk(2, dim=-1).indices
    mask = torch.zeros_like(g, dtype=torch.bool).scatter_(-1, keep, True)
    return (w.view(n, k // 4, 4) * mask).view(n, k)


def main() -> None:
    SparseSemiStructuredTensor._FORCE_CUTLASS = False
    shapes = json.loads(sys.argv[1])
    out = []
    weights = {}
    for m, n, k in shapes:
        if (n, k) not in weights:
            w = pruned_24(n, k)
            weights = {(n, k): (w, to_sparse_semi_structured(w))}
        w, ws = weights[(n, k)]
        x = torch.randn(m, k, dtype=torch.bfloat16, device="cuda")
        row = {"m": m, "n": n, "k": k, "bf16_us": median_us(lambda: F.linear(x, w))}
        try:
            row["sparse_us"] = median_us(lambda: F.linear(x, ws))
        except RuntimeError as e:
            row["error"] = str(e).splitlines()[0]
        out.append(row)
    print(json.dumps({"torch": torch.__version__, "rows": out}))


if __name__ == "__main__":
    main()
