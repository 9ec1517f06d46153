"""Writes test fixtures of PyTorch's tinygemm int4 packing (run on a CUDA machine with PyTorch).

For each (N, K, inner_k_tiles, group_size): random uint4 values q [N, K] (stored as u8), the packed
weight torch.ops.aten._convert_weight_to_int4pack(...) produces (int32 [N/8, K/(itiles*16), 32,
itiles/2]), bf16 scales and zeros [N, K/g] and torchao's scales_and_zeros [K/g, N, 2], and the
weight tinygemm itself dequantizes (_weight_int4pack_mm against the identity), as safetensors.
Usage: python3 bench/peers/make_int4pack_fixtures.py OUT_DIR
"""
import sys

import torch
from safetensors.torch import save_file


def case(n: int, k: int, itiles: int, group: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    q = torch.randint(0, 16, (n, k), generator=g, dtype=torch.int32)
    packed_u8 = (q[:, ::2] << 4 | q[:, 1::2]).to(torch.uint8)  # torchao's layout before packing
    packed = torch.ops.aten._convert_weight_to_int4pack(packed_u8.cuda(), itiles).cpu()
    scales = (torch.rand(n, k // group, generator=g) * 0.02 + 0.001).to(torch.bfloat16)
    zeros = (torch.randn(n, k // group, generator=g) * 0.05).to(torch.bfloat16)
    sz = torch.cat([scales.reshape(n, k // group, 1), zeros.reshape(n, k // group, 1)], 2).transpose(0, 1).contiguous()
    eye = torch.eye(k, dtype=torch.bfloat16, device="cuda")
    deq = torch.ops.aten._weight_int4pack_mm(eye, packed.cuda(), group, sz.cuda()).t().contiguous().cpu()
    return {"q": q.to(torch.uint8), "packed": packed, "scales": scales, "zeros": zeros,
            "scales_and_zeros": sz, "dequantized": deq}


def main() -> None:
    out = sys.argv[1]
    for i, (n, k, itiles, group) in enumerate([(64, 256, 2, 32), (64, 256, 4, 64), (32, 512, 8, 128), (48, 1024, 8, 256)]):
        tensors = case(n, k, itiles, group, 100 + i)
        meta = {"n": str(n), "k": str(k), "inner_k_tiles": str(itiles), "group_size": str(group),
                "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0)}
        save_file(tensors, f"{out}/int4pack_n{n}_k{k}_t{itiles}_g{group}.safetensors", metadata=meta)
        print(n, k, itiles, group, tuple(tensors["packed"].shape))


if __name__ == "__main__":
    main()
