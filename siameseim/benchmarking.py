"""Timing of training steps for the ``tools/benchmark_*.py`` scripts: warm up, synchronise, time, peak memory."""
import math
import time
from typing import Callable, Tuple

import torch


def time_steps(step: Callable[[], object], warmup: int, iters: int, device: torch.device) -> Tuple[float, float]:
    """Seconds per call of ``step`` over ``iters`` calls after ``warmup`` untimed ones, and the peak allocated
    device memory in bytes since the caller's last ``reset_peak_memory_stats`` (nan off CUDA).

    The device is synchronised before and after the timed calls, so queued kernels are counted.
    """
    for _ in range(warmup):
        step()
    cuda = device.type == 'cuda'
    if cuda:
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for _ in range(iters):
        step()
    if cuda:
        torch.cuda.synchronize(device)
    seconds = (time.perf_counter() - start) / max(iters, 1)
    return seconds, float(torch.cuda.max_memory_allocated(device)) if cuda else math.nan
