"""Training speed and peak memory of the ViTDet ViT-B Mask R-CNN: fast path vs the slow path, in one run.

    python -m siameseim.detection.cli.benchmark_detection [--config CFG] [--batch-size 8] [--iters 20]
                                                          [--warmup 5] [--json OUT]
    python -m siameseim.detection.cli.benchmark_detection --device cpu --tiny      # smoke mode, seconds

(also ``python tools/benchmark_detection.py`` in a checkout).
Fast path: the config's detector with fused attention (``attn_impl='sdpa'``) under fp16 autocast with a loss
scaler (the recipe's AmpOptimWrapper). Slow path: the same detector with eager attention in fp32. Both train on
the same synthetic 1024² batches (random boxes and masks), one after the other, and report img/s over the timed
iterations and the peak allocated memory.
"""
import argparse
import json
import os.path as osp
import sys
from typing import Dict, List, Optional

import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

import siameseim.detection  # noqa: F401  (registers the detection modules)
from siameseim.benchmarking import time_steps
from siameseim.detection.toy import COCO_CATEGORIES, scale_down
from siameseim.errors import InputError
from siameseim.packaged_configs import resolve_config

DEFAULT_CONFIG = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs',
                          'mask-rcnn_vit-b_lsj-100e_coco.py')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG, help='detection config (default: COCO ViT-B)')
    parser.add_argument('--batch-size', type=int, default=8, help='images per step')
    parser.add_argument('--iters', type=int, default=20, help='timed iterations per path')
    parser.add_argument('--warmup', type=int, default=5, help='untimed iterations per path')
    parser.add_argument('--device', default='cuda', help='cuda or cpu')
    parser.add_argument('--tiny', action='store_true', help='tiny ViT at 64 px (smoke test of the script)')
    parser.add_argument('--grad-checkpointing', action='store_true', help='recompute backbone blocks (fast path)')
    parser.add_argument('--json', help='also write the results to this file')
    return parser.parse_args(argv)


def build_model(cfg: Config, fast: bool, grad_checkpointing: bool, device: torch.device) -> torch.nn.Module:
    from mmdet.registry import MODELS
    model_cfg = cfg.model.copy()
    model_cfg.backbone.attn_impl = 'sdpa' if fast else 'eager'
    model_cfg.backbone.grad_checkpointing = grad_checkpointing and fast
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model.to(device).train()


def synthetic_batch(batch_size: int, size: int, num_classes: int, device: torch.device) -> dict:
    """Images with 5 random boxes and box-shaped masks each, already through the data preprocessor's input."""
    from mmdet.testing import demo_mm_inputs
    packed = demo_mm_inputs(batch_size, [[3, size, size]] * batch_size, num_items=[5] * batch_size,
                            num_classes=num_classes, with_mask=True)
    packed['inputs'] = [img.to(device) for img in packed['inputs']]
    packed['data_samples'] = [sample.to(device) for sample in packed['data_samples']]
    return packed


def measure(cfg: Config, args: argparse.Namespace, fast: bool, device: torch.device) -> Dict[str, float]:
    """img/s and peak memory of ``args.iters`` training steps after ``args.warmup`` untimed ones."""
    torch.manual_seed(0)
    model = build_model(cfg, fast, args.grad_checkpointing, device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1)
    use_amp = fast and device.type == 'cuda'
    scaler = torch.amp.GradScaler('cuda', enabled=use_amp)
    size = cfg.model.data_preprocessor.pad_size_divisor
    batch = synthetic_batch(args.batch_size, size, cfg.model.roi_head.bbox_head.num_classes, device)
    if device.type == 'cuda':
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)

    def step() -> float:
        data = model.data_preprocessor(batch, True)
        with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
            loss, _ = model.parse_losses(model(**data, mode='loss'))
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return float(loss.detach())

    losses = []
    step_time, peak = time_steps(lambda: losses.append(step()), args.warmup, args.iters, device)
    del model, optimizer
    return dict(img_per_s=args.batch_size / step_time, peak_mem_gib=peak / 2**30, last_loss=losses[-1])


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        print('error: --device cuda but no GPU is visible: run on a GPU machine or use --device cpu --tiny',
              file=sys.stderr)
        return 2
    try:
        args.config = resolve_config(args.config)
    except InputError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    cfg = Config.fromfile(args.config)
    if args.tiny:
        cfg = scale_down(cfg, data_root='data/toy_coco/', image_size=64, categories=COCO_CATEGORIES)
    with DefaultScope.overwrite_default_scope('mmdet'):
        results = dict(fast=measure(cfg, args, True, device), slow=measure(cfg, args, False, device))
    results['speedup'] = results['fast']['img_per_s'] / results['slow']['img_per_s']
    name = 'tiny ' if args.tiny else ''
    print(f'{name}Mask R-CNN {osp.basename(args.config)}, batch {args.batch_size}, {args.iters} timed iterations '
          f'on {torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}')
    print(f'{"path":<28}{"img/s":>10}{"peak GiB":>10}')
    for key, label in (('fast', 'fast (sdpa, fp16 autocast)'), ('slow', 'slow (eager, fp32)')):
        print(f'{label:<28}{results[key]["img_per_s"]:>10.2f}{results[key]["peak_mem_gib"]:>10.2f}')
    print(f'speed-up fast/slow: {results["speedup"]:.2f}x')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(results, config=args.config, batch_size=args.batch_size, device=str(device)), f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
