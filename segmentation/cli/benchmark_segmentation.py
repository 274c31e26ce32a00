"""Measure ADE20k UperNet training speed and memory against mmseg's own MAE UperNet, in the same run.

    python -m siameseim.segmentation.cli.benchmark_segmentation [--batch-size 16] [--dtype float16] [--iters 20]
    python -m siameseim.segmentation.cli.benchmark_segmentation --device cpu --tiny      # smoke test, seconds

(also ``python tools/benchmark_segmentation.py`` in a checkout).
Both models train on the same synthetic 512×512 batch (normalised noise, random labels with 10 % ignored):
forward, both losses, backward and the AdamW step with layer decay, under autocast in ``--dtype`` with a
dynamic loss scale (fp16 is the recipe's precision). SyncBN becomes BN as on a single GPU. The suite's model
is ``segmentation/configs/upernet_vit-b_160k_ade20k-512x512.py``; the baseline is mmseg's
``configs/mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py`` from the installed mmseg wheel. Every figure
printed is measured in this run; the issue's targets (at least 1.5× the baseline's img/s, at most 25 GB) are
checked against them.
"""
import argparse
import os.path as osp
import sys
from typing import Dict, List, Optional

import mmseg
import torch
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import siameseim  # noqa: F401  (registers the backbone and the layer-decay constructor)
import siameseim.segmentation  # noqa: F401  (registers the segmentor into mmseg)
from siameseim.benchmarking import time_steps
from siameseim.errors import InputError
from siameseim.packaged_configs import resolve_config

CONFIGS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs')
SUITE_CONFIG = osp.join(CONFIGS, 'upernet_vit-b_160k_ade20k-512x512.py')
TINY_CONFIG = osp.join(CONFIGS, 'upernet_vit-tiny_ade20k-64x64_toy.py')
MMSEG_CONFIG = osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs', 'mae',
                        'mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py')
TARGET_SPEEDUP = 1.5
TARGET_PEAK_GB = 25.0


def tiny_mmseg_config(cfg: Config) -> Config:
    """mmseg's MAE UperNet shrunk like the suite's tiny config (4 blocks, width 32, 64×64)."""
    cfg.model.backbone.update(img_size=(64, 64), embed_dims=32, num_layers=4, num_heads=2, out_indices=[0, 1, 2, 3])
    cfg.model.neck.embed_dim = 32
    cfg.model.decode_head.update(in_channels=[32] * 4, channels=32)
    cfg.model.auxiliary_head.update(in_channels=32, channels=16)
    cfg.model.data_preprocessor.size = (64, 64)
    cfg.optim_wrapper.paramwise_cfg.num_layers = 4
    return cfg


def build(cfg: Config, device: torch.device, dtype: str):
    """The config's model in train mode (SyncBN reverted) and its optimizer wrapper with autocast on GPU."""
    with DefaultScope.overwrite_default_scope('mmseg'):
        model_cfg = cfg.model.copy()
        model_cfg.pop('pretrained', None)
        model_cfg.backbone.pop('pretrained', None)
        model = revert_sync_batchnorm(MODELS.build(model_cfg)).to(device).train()
        wrapper_cfg = cfg.optim_wrapper.to_dict()
        if device.type == 'cuda':
            wrapper_cfg.update(type='AmpOptimWrapper', dtype=dtype, loss_scale='dynamic')
        else:
            wrapper_cfg.update(type='OptimWrapper')
            wrapper_cfg.pop('loss_scale', None)
        optim_wrapper = build_optim_wrapper(model, wrapper_cfg)
    return model, optim_wrapper


def synthetic_batch(batch_size: int, size: int, num_classes: int, device: torch.device) -> Dict:
    """Normalised noise images and random labels (10 % ignored), as the data preprocessor would hand over."""
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(batch_size, 3, size, size, generator=generator).to(device)
    samples = []
    for _ in range(batch_size):
        label = torch.randint(0, num_classes, (1, size, size), generator=generator)
        label[torch.rand(label.shape, generator=generator) < 0.1] = 255
        sample = SegDataSample(metainfo=dict(img_shape=(size, size), pad_shape=(size, size)))
        sample.gt_sem_seg = PixelData(data=label.to(device))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def train_step(model, optim_wrapper, batch: Dict) -> torch.Tensor:
    with optim_wrapper.optim_context(model):
        losses = model.loss(batch['inputs'], batch['data_samples'])
    loss = sum(value for key, value in losses.items() if 'loss' in key)
    optim_wrapper.update_params(loss)
    return loss


def measure(cfg: Config, batch: Dict, device: torch.device, dtype: str, warmup: int, iters: int) -> Dict[str, float]:
    """img/s and peak allocated memory (GB, 1e9 bytes) of ``iters`` training steps after ``warmup``."""
    if device.type == 'cuda':
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    torch.manual_seed(0)
    model, optim_wrapper = build(cfg, device, dtype)
    step_time, peak = time_steps(lambda: train_step(model, optim_wrapper, batch), warmup, iters, device)
    del model, optim_wrapper
    return dict(img_per_s=batch['inputs'].shape[0] / step_time, step_ms=step_time * 1e3, peak_gb=peak / 1e9)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=SUITE_CONFIG, help='the suite config to measure (default: ViT-B)')
    parser.add_argument('--baseline-config', default=MMSEG_CONFIG, help="mmseg's MAE UperNet config")
    parser.add_argument('--tiny', action='store_true', help='tiny CPU configs for both models (smoke test)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--batch-size', type=int, default=16)
    parser.add_argument('--dtype', choices=['float16', 'bfloat16'], default='float16',
                        help='autocast precision of both models (the recipe uses fp16)')
    parser.add_argument('--warmup', type=int, default=5)
    parser.add_argument('--iters', type=int, default=20)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    try:
        config = TINY_CONFIG if args.tiny else resolve_config(args.config)
    except InputError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    if not osp.isfile(args.baseline_config):
        print(f'error: config {args.baseline_config} does not exist: pass --baseline-config with an mmseg config',
              file=sys.stderr)
        return 2
    cfg = Config.fromfile(config)
    base_cfg = Config.fromfile(args.baseline_config)
    if args.tiny:
        base_cfg = tiny_mmseg_config(base_cfg)
    device = torch.device(args.device)
    if device.type == 'cuda':
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    size = cfg.model.data_preprocessor.size[0]
    batch = synthetic_batch(args.batch_size, size, cfg.model.decode_head.num_classes, device)
    name = torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu'
    precision = f'{args.dtype} autocast' if device.type == 'cuda' else 'fp32'
    print(f'device: {name}; batch {args.batch_size} x {size}x{size}; {precision}; '
          f'{args.warmup} warm-up + {args.iters} timed steps')
    rows = {}
    for label, model_cfg, path in (('suite', cfg, config), ('mmseg MAE', base_cfg, args.baseline_config)):
        rows[label] = measure(model_cfg, batch, device, args.dtype, args.warmup, args.iters)
        row = rows[label]
        print(f'{label:>10}: {row["img_per_s"]:8.1f} img/s, step {row["step_ms"]:8.1f} ms, '
              f'peak {row["peak_gb"]:6.2f} GB  ({osp.basename(path)})')
    suite, base = rows['suite'], rows['mmseg MAE']
    speedup = suite['img_per_s'] / base['img_per_s']
    memory_ratio = suite['peak_gb'] / base['peak_gb'] if device.type == 'cuda' else float('nan')
    print(f'ratio suite/mmseg: {speedup:.2f}x img/s, {memory_ratio:.2f}x peak memory')
    if device.type == 'cuda' and not args.tiny:
        print(f'targets: img/s >= {TARGET_SPEEDUP}x baseline: {"met" if speedup >= TARGET_SPEEDUP else "NOT met"}; '
              f'peak <= {TARGET_PEAK_GB:.0f} GB: {"met" if suite["peak_gb"] <= TARGET_PEAK_GB else "NOT met"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
