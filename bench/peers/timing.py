"""Timing shared by the PyTorch peers: CUDA events around each call, L2 flushed before each sample
(a read-only pass over four times its size, leaving L2 clean like bench/harness.ts), median of `samples` after `warmup` calls, in microseconds."""
import torch

_flush = None


def median_us(fn, warmup: int = 5, samples: int = 50) -> float:
    global _flush
    if _flush is None:
        _flush = torch.zeros(4 * torch.cuda.get_device_properties(0).L2_cache_size // 4, dtype=torch.int32, device="cuda")
    for _ in range(warmup):
        fn()
    events = []
    for _ in range(samples):
        _flush.max()
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        events.append((a, b))
    torch.cuda.synchronize()
    us = sorted(a.elapsed_time(b) * 1000 for a, b in events)
    return us[len(us) // 2]
