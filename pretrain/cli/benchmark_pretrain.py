"""Measure SiameseIM pretraining speed: img/s, step time, peak memory and MFU, against a slow baseline.

    python -m siameseim.pretrain.cli.benchmark_pretrain [--config CFG] [--batch-sizes 64 128] [--dtype bfloat16]
                                                        [--compile]

(also ``python tools/benchmark_pretrain.py`` in a checkout).
The model step runs on synthetic data, so the GPU is measured alone; the data pipeline is measured
separately in images/s per CPU core. Every figure printed is measured in this run. The baseline is the same
model run the way the official code runs it (docs/method.md §7): eager softmax attention, the UniGrad negative
term through the N×N matrix, and a per-parameter Python EMA loop, under fp16 autocast. MFU counts the useful
FLOPs of one training step with ``torch.utils.flop_counter.FlopCounterMode`` and divides by the device's
dense bf16 peak (``--peak-tflops`` overrides the table).
"""
import argparse
import os.path as osp
import sys
import tempfile
import time
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional

import numpy as np
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from torch.utils.flop_counter import FlopCounterMode

import siameseim.pretrain  # noqa: F401  (registers the pretraining models)
from siameseim.pretrain.data import BlockMaskGenerator, PretrainImageFolder
from siameseim.pretrain.data.photo_like import write_imagenet_like_jpegs
from siameseim.pretrain.losses import unigrad
from siameseim.benchmarking import time_steps
from siameseim.errors import InputError
from siameseim.packaged_configs import resolve_config
from siameseim.registry import MODELS

CONFIGS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs')
DEFAULT_CONFIG = osp.join(CONFIGS, 'siameseim_vit-base-p16_8xb512-amp-coslr-1600e_in1k.py')
TINY_CONFIG = osp.join(CONFIGS, 'siameseim_vit-tiny-p16_1xb8-20e_toy.py')
# Dense (no sparsity) bf16 tensor-core peaks, TFLOP/s.
PEAK_TFLOPS = {'H100': 989.4, 'H200': 989.4, 'A100': 312.0}


def peak_tflops(device: torch.device, override: Optional[float]) -> Optional[float]:
    if override is not None:
        return override
    if device.type != 'cuda':
        return None
    name = torch.cuda.get_device_name(device)
    return next((value for key, value in PEAK_TFLOPS.items() if key in name), None)


def synthetic_batch(model, batch_size: int, device: torch.device, mask_cfg: dict) -> Dict[str, torch.Tensor]:
    """Random views, a realistic relative position and fixed-count block masks with their visible ids."""
    size = model.encoder.img_size[0]
    generator = BlockMaskGenerator(**mask_cfg)
    rng = np.random.default_rng(0)
    mask = torch.from_numpy(np.stack([generator(rng) for _ in range(batch_size)]))
    relpos = torch.tensor([[0.1, -0.05, 0.9, 1.1, 0.0, 0.4]], dtype=torch.float64).repeat(batch_size, 1)
    return dict(
        view1=torch.randn(batch_size, 3, size, size, device=device),
        view2=torch.randn(batch_size, 3, size, size, device=device),
        relpos=relpos.to(device),
        mask=mask.to(device),
        ids_keep=model.visible_ids(mask).to(device))


@contextmanager
def official_style(model) -> Iterator[None]:
    """Run the model the way the official code does: eager attention, N×N loss term, Python EMA loop."""
    attentions = [module for module in model.modules() if hasattr(module, 'attn_impl')]
    original_moment = unigrad.target_second_moment
    original_update = model.momentum_update

    def diagonal_loss(pred, target, neg_weight=0.02, return_terms=False):
        pred, target = pred.reshape(-1, pred.shape[-1]), target.reshape(-1, target.shape[-1])
        num_tokens, dim = pred.shape
        pos = (pred - target).square().sum() / num_tokens
        neg = torch.diagonal(pred @ original_moment(target) @ pred.t()).mean()
        return (pos + neg_weight * neg) / dim

    def loop_update(momentum):
        with torch.no_grad():
            for target, online in zip(*model.ema_parameter_pairs()):
                target.data = target.data * momentum + online.data * (1.0 - momentum)

    for module in attentions:
        module.attn_impl = 'eager'
    unigrad.unigrad_loss, original_loss = diagonal_loss, unigrad.unigrad_loss
    model.momentum_update = loop_update
    try:
        yield
    finally:
        for module in attentions:
            module.attn_impl = 'sdpa'
        unigrad.unigrad_loss = original_loss
        model.momentum_update = original_update


def train_step(model, optim_wrapper, batch: Dict[str, torch.Tensor]) -> torch.Tensor:
    model.momentum_update(0.996)
    with optim_wrapper.optim_context(model):
        loss = model(**batch)['loss']
    optim_wrapper.update_params(loss)
    return loss


def step_flops(model, optim_wrapper, batch) -> int:
    """FLOPs of one forward + backward, counted by torch's FlopCounterMode."""
    counter = FlopCounterMode(display=False)
    with counter:
        with optim_wrapper.optim_context(model):
            loss = model(**batch)['loss']
        loss.backward()
    optim_wrapper.zero_grad()
    return counter.get_total_flops()


def measure(model, optim_wrapper, batch, warmup: int, iters: int, device: torch.device) -> Dict[str, float]:
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
    step_time, peak = time_steps(lambda: train_step(model, optim_wrapper, batch), warmup, iters, device)
    return dict(step_time=step_time, img_per_s=batch['view1'].shape[0] / step_time, peak_gib=peak / 2**30)


def build(cfg: Config, device: torch.device, dtype: str, compile_model: bool):
    model = MODELS.build(cfg.model).to(device).train()
    wrapper_cfg = cfg.optim_wrapper.to_dict()
    if device.type == 'cuda':
        wrapper_cfg.update(type='AmpOptimWrapper', dtype=dtype)
        if dtype == 'float16':
            wrapper_cfg['loss_scale'] = 'dynamic'
    else:
        wrapper_cfg.update(type='OptimWrapper')
        wrapper_cfg.pop('dtype', None)
    optim_wrapper = build_optim_wrapper(model, wrapper_cfg)
    if compile_model:
        model = torch.compile(model)
    return model, optim_wrapper


def data_pipeline_rate(cfg: Config, num_images: int) -> float:
    """Images/s of the config's two-view transform + mask on one CPU core, on generated ImageNet-like JPEGs
    (:mod:`siameseim.pretrain.cli.benchmark_data` compares it with the PIL pipeline).

    torch runs single-threaded for the measurement and gets its thread count back afterwards: oneDNN
    primitives created at one thread count must not execute at another (a deadlock in conv backward).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory() as root:
            write_imagenet_like_jpegs(root, 16)
            dataset_cfg = cfg.train_dataloader.dataset.to_dict()
            dataset_cfg.pop('type')
            dataset = PretrainImageFolder(**{**dataset_cfg, 'root': root})
            dataset[(0, 0)]
            start = time.perf_counter()
            for index in range(num_images):
                dataset[(0, index % len(dataset))]
            return num_images / (time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG, help='pretraining config (default: ViT-B release)')
    parser.add_argument('--tiny', action='store_true', help='the tiny CPU config (smoke test)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[64, 128])
    parser.add_argument('--dtype', choices=['bfloat16', 'float16'], default='bfloat16')
    parser.add_argument('--baseline-dtype', choices=['bfloat16', 'float16'], default='float16',
                        help='precision of the official-style baseline (the official code uses fp16)')
    parser.add_argument('--compile', action='store_true', help='torch.compile the fast path')
    parser.add_argument('--no-baseline', action='store_true', help='skip the official-style baseline')
    parser.add_argument('--warmup', type=int, default=10)
    parser.add_argument('--iters', type=int, default=30)
    parser.add_argument('--data-images', type=int, default=200, help='images for the data-pipeline figure')
    parser.add_argument('--peak-tflops', type=float, help='device peak for MFU (default: table by GPU name)')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        config = TINY_CONFIG if args.tiny else resolve_config(args.config)
    except InputError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'siameseim'))
    device = torch.device(args.device)
    if device.type == 'cuda':
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    mask_cfg = cfg.train_dataloader.dataset.mask_generator.to_dict()
    peak = peak_tflops(device, args.peak_tflops)
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'
    print(f'device: {name}; config: {osp.basename(config)}; fast path: sdpa + {args.dtype}'
          f'{" + torch.compile" if args.compile else ""}; baseline: eager + N×N loss + loop EMA, {args.baseline_dtype}')
    rows = []
    for batch_size in args.batch_sizes:
        torch.manual_seed(0)
        model, optim_wrapper = build(cfg, device, args.dtype, args.compile)
        batch = synthetic_batch(model, batch_size, device, mask_cfg)
        flops = step_flops(model, optim_wrapper, batch)
        fast = measure(model, optim_wrapper, batch, args.warmup, args.iters, device)
        del model, optim_wrapper
        row = dict(batch=batch_size, **fast, tflops_per_step=flops / 1e12)
        row['mfu'] = flops / fast['step_time'] / (peak * 1e12) if peak else float('nan')
        if not args.no_baseline:
            torch.manual_seed(0)
            model, optim_wrapper = build(cfg, device, args.baseline_dtype, False)
            with official_style(model):  # the official model finds the visible patches from the mask itself
                slow = measure(model, optim_wrapper, {k: v for k, v in batch.items() if k != 'ids_keep'},
                               args.warmup, args.iters, device)
            del model, optim_wrapper
            row.update(base_img_per_s=slow['img_per_s'], base_peak_gib=slow['peak_gib'],
                       speedup=fast['img_per_s'] / slow['img_per_s'])
        if device.type == 'cuda':
            torch.cuda.empty_cache()
        rows.append(row)
        print(f"batch {batch_size}: {row['img_per_s']:.1f} img/s, step {row['step_time'] * 1e3:.1f} ms, "
              f"peak {row['peak_gib']:.2f} GiB, {row['tflops_per_step']:.2f} TFLOP/step, MFU {row['mfu']:.1%}"
              + (f"; baseline {row['base_img_per_s']:.1f} img/s, peak {row['base_peak_gib']:.2f} GiB, "
                 f"speed-up {row['speedup']:.2f}x" if 'speedup' in row else ''))
    data_rate = data_pipeline_rate(cfg, args.data_images)
    print(f'data pipeline: {data_rate:.1f} images/s per CPU core (two views + mask, ImageNet-like JPEGs)')
    print('summary: ' + '; '.join(f"batch {row['batch']}: {row['img_per_s']:.0f} img/s" for row in rows)
          + f'; data {data_rate:.0f} img/s/core')
    return 0


if __name__ == '__main__':
    sys.exit(main())
