"""Evaluate an ImageNet classifier on ImageNet val, -A, -R, -Sketch and -C (downstream.md §4).

:func:`find_benchmarks` looks for each set under an OpenMMLab-style data root (downstream.md §6)::

    data/imagenet/val/<wnid>/*.JPEG                  val top-1 / top-5 (also the clean error of relative mCE)
    data/imagenet-a/<wnid>/*.jpg                     top-1 on the 200 A classes (restricted logits)
    data/imagenet-r/<wnid>/*.jpg                     top-1 on the 200 R classes (restricted logits)
    data/sketch/<wnid>/*.JPEG                        1000-way top-1
    data/imagenet-c/<corruption>/<1..5>/<wnid>/*     error per corruption and severity, mCE, 1 − mCE

:func:`run_benchmarks` evaluates whichever exist, skipping (and reporting) the others.
"""
import math
import os
import time
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.config import Config

from siameseim.checkpoint import CheckpointError, load_pretrained, read_checkpoint

from .datasets import scan_wnid_folder
from .labels import restricted_prediction, subset_indices, subset_wnids
from .loading import iterate_batches
from .metrics import CORRUPTIONS, SEVERITIES, summarize_imagenet_c
from .models import ImageClassifier
from .transforms import EvalTransform

SETS = ('imagenet', 'imagenet-a', 'imagenet-r', 'sketch', 'imagenet-c')
SET_FOLDERS = {'imagenet': 'imagenet/val', 'imagenet-a': 'imagenet-a', 'imagenet-r': 'imagenet-r',
               'sketch': 'sketch', 'imagenet-c': 'imagenet-c'}
SUBSET_OF = {'imagenet-a': 'a', 'imagenet-r': 'r'}


def build_classifier(checkpoint: str, config: Optional[str] = None, arch: str = 'vit-b',
                     trust_pickle: bool = False) -> nn.Module:
    """The fine-tuned classifier of ``checkpoint``, in eval mode.

    Model from ``config`` (its ``model`` entry) or from ``arch`` (the fine-tuning layout: mean pool →
    ``fc_norm`` → 1000-way head). A checkpoint written by this suite's runner is loaded as is; any other
    format goes through :func:`siameseim.checkpoint.load_pretrained` with its head. Either way the load is
    strict: a missing or unused weight is an error (downstream.md §4.1).
    """
    if config is not None:
        cfg = dict(Config.fromfile(config).model)
        cfg.pop('type', None)
        cfg.pop('data_preprocessor', None)
        cfg['backbone'] = dict(cfg['backbone'], pretrained=None, drop_path_rate=0.0)
        cfg.pop('mixup', None)
        model = ImageClassifier(**cfg)
    else:
        model = ImageClassifier(dict(arch=arch, global_pool='avg', final_norm=False))
    loaded = read_checkpoint(checkpoint, trust_pickle=trust_pickle)
    state_dict = loaded.get('state_dict', loaded) if isinstance(loaded, dict) else loaded
    if set(state_dict) == set(model.state_dict()):
        model.load_state_dict(state_dict, strict=True)
        return model.eval()
    if model.head is not None:
        raise CheckpointError(f'{checkpoint}: keys do not match the linear-probe model of {config}: pass the '
                              f'config the checkpoint was trained with')
    try:
        load_pretrained(model.backbone, loaded, keep_head=True, strict=True)
    except CheckpointError as err:
        if 'head.weight' in str(err):
            raise CheckpointError(f'{checkpoint} has no 1000-way classifier head: robustness is measured with the '
                                  f'ImageNet fine-tuned classifier; fine-tune first (robustness/configs/'
                                  f'vit-b_ft-100e_in1k.py) and pass that checkpoint') from None
        raise CheckpointError(f'{checkpoint}: {err}') from None
    return model.eval()


def find_benchmarks(data_root: str, sets: Sequence[str] = SETS) -> Tuple[Dict[str, str], Dict[str, str]]:
    """``(found, missing)``: set name → folder, and set name → why it is skipped."""
    found, missing = {}, {}
    for name in sets:
        if name not in SET_FOLDERS:
            raise ValueError(f'unknown benchmark {name!r}: choose from {SETS}')
        folder = os.path.join(data_root, SET_FOLDERS[name])
        if os.path.isdir(folder):
            found[name] = folder
        else:
            missing[name] = f'{folder} not found'
    return found, missing


@torch.no_grad()
def predict_correct(model: nn.Module, samples: Sequence[Tuple[str, int]], *, transform: Callable,
                    device: torch.device, subset: Optional[str] = None, decode: str = 'cpu', batch_size: int = 256,
                    num_workers: int = 8, crop_size: int = 224, resize: Optional[int] = 256, amp: bool = False,
                    log: Optional[Callable[[str], None]] = None,
                    log_every_s: float = 60.0) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """Per-sample top-1 and top-5 hits (bool ``[N]``; top-5 None when restricted to a 200-class ``subset``),
    in one ordered pass, logging images/s every ``log_every_s`` seconds."""
    indices = subset_indices(subset) if subset else None
    top1, top5 = [], []
    start = last = time.perf_counter()
    done = 0
    for images, labels in iterate_batches(samples, transform, decode=decode, device=device, batch_size=batch_size,
                                          num_workers=num_workers, crop_size=crop_size, resize=resize):
        with torch.autocast(device.type, enabled=amp and device.type == 'cuda'):
            logits = model(images).float()
        if indices is not None:
            top1.append((restricted_prediction(logits, indices) == labels).cpu())
        else:
            hits = logits.topk(min(5, logits.shape[-1]), dim=-1).indices == labels[:, None]
            top1.append(hits[:, 0].cpu())
            top5.append(hits.any(dim=1).cpu())
        done += len(labels)
        now = time.perf_counter()
        if log is not None and now - last > log_every_s:
            last = now
            log(f'  {done}/{len(samples)} images, {done / (now - start):.0f} images/s')
    return torch.cat(top1), (torch.cat(top5) if top5 else None)


def evaluate_samples(model: nn.Module, samples: Sequence[Tuple[str, int]], **options) -> Dict[str, float]:
    """Top-1 (and top-5 unless restricted to a 200-class ``subset``) accuracy in percent over ``samples``."""
    top1, top5 = predict_correct(model, samples, **options)
    result = dict(images=len(top1), top1=100.0 * top1.double().mean().item())
    if top5 is not None:
        result['top5'] = 100.0 * top5.double().mean().item()
    return result


def imagenet_c_folders(root: str) -> Dict[str, Dict[int, str]]:
    """``corruption → severity → folder`` for the test corruptions present under ``root``."""
    found = {}
    for corruption in CORRUPTIONS:
        for severity in SEVERITIES:
            folder = os.path.join(root, corruption, str(severity))
            if os.path.isdir(folder):
                found.setdefault(corruption, {})[severity] = folder
    if not found:
        raise FileNotFoundError(f'{root} holds none of the 15 corruption folders <corruption>/<1..5>/<wnid>/: '
                                f'point the data root at the folder that contains gaussian_noise/, shot_noise/, ...')
    return found


def run_benchmarks(model: nn.Module, data_root: str, *, sets: Sequence[str] = SETS, device: str = 'cuda',
                   decode: str = 'cpu', batch_size: int = 256, num_workers: int = 8, crop_size: int = 224,
                   resize: int = 256, imagenet_c_resize: bool = False, amp: bool = False,
                   log: Callable[[str], None] = print) -> dict:
    """Evaluate ``model`` on every set of ``sets`` found under ``data_root``; the results as a dict."""
    device = torch.device(device)
    model = model.to(device).eval()
    found, missing = find_benchmarks(data_root, sets)
    for name, why in missing.items():
        log(f'[skip] {name}: {why}')
    transform = EvalTransform(crop_size=crop_size, resize=resize)
    c_resize = resize if imagenet_c_resize else None
    c_transform = EvalTransform(crop_size=crop_size, resize=c_resize)
    options = dict(device=device, decode=decode, batch_size=batch_size, num_workers=num_workers,
                   crop_size=crop_size, amp=amp)
    results = dict(data_root=data_root, skipped=missing, transform=dict(
        eval=f'Resize({resize}, bicubic) -> CenterCrop({crop_size})',
        imagenet_c=f'Resize({c_resize}, bicubic) -> CenterCrop({crop_size})' if c_resize else
        f'CenterCrop({crop_size}) only (files are 224x224, hendrycks test.py)', decode=decode))
    for name, folder in found.items():
        if name == 'imagenet-c':
            continue
        start = time.perf_counter()
        subset = SUBSET_OF.get(name)
        samples = scan_wnid_folder(folder, subset_wnids(subset) if subset else None)
        log(f'[{name}] {len(samples)} images from {folder}')
        results[name] = evaluate_samples(model, samples, transform=transform, subset=subset, resize=resize,
                                         log=log, **options)
        log(f'[{name}] top-1 {results[name]["top1"]:.2f} ({time.perf_counter() - start:.0f} s)')
    if 'imagenet-c' in found:
        clean_error = 1 - results['imagenet']['top1'] / 100 if 'imagenet' in results else None
        errors: Dict[str, Dict[int, float]] = {}
        folders = imagenet_c_folders(found['imagenet-c'])
        groups = [(c, s, scan_wnid_folder(folder)) for c, by_s in folders.items() for s, folder in by_s.items()]
        samples = [sample for _, _, group in groups for sample in group]
        log(f'[imagenet-c] {len(groups)} corruption/severity folders, {len(samples)} images, one pass')
        start = time.perf_counter()
        top1, _ = predict_correct(model, samples, transform=c_transform, resize=c_resize, log=log, **options)
        offset = 0
        for corruption, severity, group in groups:
            hits = top1[offset:offset + len(group)]
            offset += len(group)
            errors.setdefault(corruption, {})[severity] = 1 - hits.double().mean().item()
            log(f'[imagenet-c] {corruption}/{severity}: error {100 * errors[corruption][severity]:.2f} '
                f'on {len(group)} images')
        log(f'[imagenet-c] {len(samples)} images in {time.perf_counter() - start:.0f} s')
        results['imagenet-c'] = summarize_imagenet_c(errors, clean_error)
        missing_c = [c for c in CORRUPTIONS if c not in folders]
        if missing_c:
            results['imagenet-c']['missing_corruptions'] = missing_c
        if results['imagenet-c']['mce_gap']:
            log(f'[imagenet-c] mCE not computed under {found["imagenet-c"]}: {results["imagenet-c"]["mce_gap"]}')
    return results


def _fmt(value: Optional[float]) -> str:
    return '—' if value is None or (isinstance(value, float) and math.isnan(value)) else f'{value:.2f}'


def results_markdown(results: dict) -> str:
    """The results as Markdown: one summary table, the per-corruption table, the conventions used."""
    rows = [('ImageNet val top-1', results.get('imagenet', {}).get('top1')),
            ('ImageNet val top-5', results.get('imagenet', {}).get('top5')),
            ('ImageNet-A top-1 (200-class logits)', results.get('imagenet-a', {}).get('top1')),
            ('ImageNet-R top-1 (200-class logits)', results.get('imagenet-r', {}).get('top1')),
            ('ImageNet-Sketch top-1', results.get('sketch', {}).get('top1'))]
    c = results.get('imagenet-c')
    if c:
        rows += [('ImageNet-C mCE (AlexNet = 100, lower is better)', c['mce']),
                 ('ImageNet-C 1 − mCE = 100 − mCE (SiameseIM convention)', c['one_minus_mce']),
                 ('ImageNet-C relative mCE', c['relative_mce'])]
    lines = ['# Classification and robustness', '', '| metric | value |', '|---|---|']
    lines += [f'| {name} | {_fmt(value)} |' for name, value in rows if value is not None or name.startswith('ImageNet-C')]
    if c:
        lines += ['', '## ImageNet-C top-1 error (%) per corruption and severity', '',
                  '| corruption | 1 | 2 | 3 | 4 | 5 | CE | relative CE |', '|---|---|---|---|---|---|---|---|']
        for corruption in CORRUPTIONS:
            if corruption in c['errors']:
                by_s = c['errors'][corruption]
                cells = [_fmt(by_s.get(str(s))) for s in SEVERITIES]
                rel = (c['relative_ce'] or {}).get(corruption)
                lines.append(f'| {corruption} | ' + ' | '.join(cells) +
                             f' | {_fmt(c["ce"].get(corruption))} | {_fmt(rel)} |')
        lines += ['', f'Convention: {c["convention"]}. Relative mCE uses the model\'s ImageNet val error and '
                      f'AlexNet\'s clean error 43.45 %.']
        if c.get('mce_gap'):
            lines += ['', f'mCE not computed: {c["mce_gap"]}.']
    transform = results.get('transform', {})
    lines += ['', f'Transforms: {transform.get("eval")}; ImageNet-C: {transform.get("imagenet_c")}; '
                  f'decode: {transform.get("decode")}.']
    if results.get('skipped'):
        lines += ['', 'Skipped: ' + '; '.join(f'{name} ({why})' for name, why in results['skipped'].items()) + '.']
    return '\n'.join(lines) + '\n'


__all__ = ['SETS', 'build_classifier', 'find_benchmarks', 'evaluate_samples', 'imagenet_c_folders',
           'predict_correct', 'run_benchmarks', 'results_markdown']
