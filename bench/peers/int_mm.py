"""PyTorch peers for bench/linear_w8a8.ts, per [m, n, k]: torch._int_mm alone (int8 x int8 -> int32,
what torchao's int8_dynamic_activation_int8_weight runs under torch.compile, here without the
activation quantization and the rescale), torchao's eager W8A8 formula (per-token quantize, _int_mm,
rescale, as in torchao's safe_int_mm + dequant) and the bf16 F.linear, all in microseconds.

Usage: python3 bench/peers/int_mm.py '<json list of [m, n, k]>' (timing: timing.py); JSON out.
"""
import json
import sys

import torch
import torch.nn.functional as F

from timing import median_us


def w8a8_eager(x, wq_t, ws):
    s = (x.abs().amax(dim=-1, keepdim=True).float() / 127).clamp(min=1e-5)
    xq = torch.clamp(torch.round(x.float() / s), -127, 127).to(torch.int8)
    return (torch._int_mm(xq, wq_t).float() * s * ws).to(torch.bfloat16)


def main() -> None:
    shapes = json.loads(sys.argv[1])
    out = []
    weights = {}
    for m, n, k in shapes:
        if (n, k) not in weights:
            wq_t = torch.randint(-128, 128, (n, k), dtype=torch.int8, device="cuda").t()  # [k, n] column-major, as F.linear's weight
            ws = torch.rand(n, dtype=torch.float32, device="cuda") * 0.01
            w = torch.randn(n, k, dtype=torch.bfloat16, device="cuda")
            weights = {(n, k): (wq_t, ws, w)}
        wq_t, ws, w = weights[(n, k)]
        x = torch.randn(m, k, dtype=torch.bfloat16, device="cuda")
        xq = torch.randint(-127, 128, (m, k), dtype=torch.int8, device="cuda")
        row = {"m": m, "n": n, "k": k, "bf16_us": median_us(lambda: F.linear(x, w))}
        try:  # _int_mm needs m > 16 on some versions
            row["int_mm_us"] = median_us(lambda: torch._int_mm(xq, wq_t))
            row["w8a8_eager_us"] = median_us(lambda: w8a8_eager(x, wq_t, ws))
        except RuntimeError as e:
            row["error"] = str(e).splitlines()[0]
        out.append(row)
    print(json.dumps({"torch": torch.__version__, "rows": out}))


if __name__ == "__main__":
    main()
