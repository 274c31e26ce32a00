"""A small fake suite output dir for the report tests: results.json and the work-dir files each task writes.

Two checkpoints, ``ours`` and ``base``; ``ours`` carries the provenance fields (environment, seeds, configs,
metric files) and a two-seed linear probe, ``base`` does not (a suite written before they were recorded).
The few-shot task is skipped for both and LVIS failed for ``base``, so the report must show gaps. Drawn test
predictions (``predictions/*.png``) exist for COCO of both and ADE20k of ``ours`` only.
"""
import json
import math
import os
from pathlib import Path
from typing import Dict, List

from PIL import Image

CORRUPTIONS = ('gaussian_noise', 'motion_blur', 'fog')
# Per-class IoU (percent) of ours and base; 'car' is NaN for base (absent from both predictions and labels).
ADE_IOU = {'ours': {'wall': 70.0, 'sky': 90.0, 'tree': 40.0, 'person': 35.0, 'car': 20.0},
           'base': {'wall': 60.0, 'sky': 91.0, 'tree': 10.0, 'person': 35.0, 'car': math.nan}}


def _write(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) if not isinstance(data, str) else data)


def _scalars(epoch_based: bool, val_key: str, scale: float) -> str:
    """mmengine vis_data/scalars.json lines: 4 training records and a validation record at the end."""
    lines: List[Dict] = []
    for step in (2, 4, 6, 8):
        record = dict(lr=1e-3 * (1 - step / 10), base_lr=1e-3, loss=scale * (3.0 - 0.2 * step), step=step, iter=step)
        if epoch_based:
            record['epoch'] = (step + 3) // 4
        lines.append(record)
    lines.append({val_key: 42.0 * scale, 'step': 2 if epoch_based else 8})
    return '\n'.join(json.dumps(line) for line in lines) + '\n'


def _done(out: Path, name: str, task: str, metrics: Dict[str, float], **extra) -> Dict:
    return dict(status='done', metrics=metrics, work_dir=str(out / name / task), seconds=1.5, **extra)


def make_suite_dir(out: Path) -> Path:
    """Write the fake suite output dir under ``out`` and return it."""
    checkpoints = {}
    for name, gain in (('ours', 1.0), ('base', 0.5)):
        provenance = dict(device='cpu', seeds=[None],
                          configs=[dict(path=str(out / name / 'coco' / f'{name}_coco.py'), sha256='ab' * 32)]) \
            if name == 'ours' else {}
        tasks = {
            'finetune': _done(out, name, 'finetune', {'top1': 80.0 * gain + 5, 'top5': 95.0}),
            'linear': _done(out, name, 'linear', {'top1': 60.0 * gain}),
            'fewshot': dict(status='skipped', reason='/data/imagenet/train is missing (data layout: docs/data.md)'),
            'coco': _done(out, name, 'coco', {'bbox_AP': 40.0 * gain, 'segm_AP': 35.0 * gain}, **provenance),
            'lvis': _done(out, name, 'lvis', {'bbox_AP': 30.0, 'segm_AP': 28.0, 'bbox_APr': 20.0, 'segm_APr': 19.0})
            if name == 'ours' else dict(status='failed', reason='RuntimeError: out of memory',
                                        work_dir=str(out / name / 'lvis')),
            'ade20k': _done(out, name, 'ade20k', {'mIoU': 45.0 * gain}),
            'robustness': _done(out, name, 'robustness', {'imagenet_a_top1': 30.0 * gain, 'imagenet_r_top1': 45.0,
                                                          'imagenet_sketch_top1': 33.0, 'one_minus_mce': 50.0 * gain,
                                                          'mce': 100 - 50.0 * gain}),
        }
        if name == 'ours':
            tasks['linear'].update(seeds=[0, 1], runs={'top1': [59.0, 61.0]},
                                   metric_files=[str(out / name / 'linear' / f'seed{seed}' / 'test_metrics.json')
                                                 for seed in (0, 1)])
        checkpoints[name] = dict(tasks=tasks, path=None if name == 'base' else '/weights/ours.pth', arch='vit-b')

        folder = out / name
        _write(folder / 'finetune' / '20260101_000000' / 'vis_data' / 'scalars.json',
               _scalars(True, 'imagenet/top1', gain))
        for seed in (0, 1):
            _write(folder / 'linear' / f'seed{seed}' / f'2026010{seed + 1}_000000' / 'vis_data' / 'scalars.json',
                   _scalars(True, 'imagenet/top1', gain + seed))
        _write(folder / 'coco' / '20260101_000000' / 'vis_data' / 'scalars.json',
               _scalars(False, 'coco/bbox_mAP', gain))
        _write(folder / 'coco' / 'test_metrics.json', {
            'coco/bbox_mAP': 0.4 * gain, 'coco/bbox_mAP_s': 0.2 * gain, 'coco/bbox_mAP_m': 0.45 * gain,
            'coco/bbox_mAP_l': -1.0, 'coco/segm_mAP': 0.35 * gain, 'coco/segm_mAP_s': 0.15 * gain,
            'coco/segm_mAP_m': 0.4 * gain, 'coco/segm_mAP_l': -1.0})
        if name == 'ours':
            _write(folder / 'lvis' / 'test_metrics.json', {
                f'lvis/{kind}_{key}': value for kind in ('bbox', 'segm')
                for key, value in (('AP', 0.3), ('APr', 0.2), ('APc', 0.25), ('APf', 0.35))})
            for seed, top1 in ((0, 59.0), (1, 61.0)):
                _write(folder / 'linear' / f'seed{seed}' / 'test_metrics.json', {'imagenet/top1': top1})
        ade = {'aAcc': 70.0, 'mIoU': 45.0 * gain, 'mAcc': 50.0}
        ade.update({f'IoU.{cls}': value for cls, value in ADE_IOU[name].items()})
        _write(folder / 'ade20k' / 'test_metrics.json', json.dumps(ade))  # NaN as mmengine's json.dump writes it
        for task in ('coco', 'ade20k') if name == 'ours' else ('coco', ):
            for image, shade in (('val_b', 90), ('val_a', 30)):
                path = folder / task / 'predictions' / f'{image}.png'
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.new('RGB', (1200, 300), (shade, 200, 255 - shade)).save(path)
        errors = {corruption: {str(s): 20.0 + 10 * s * (1.5 - gain) + index for s in range(1, 6)}
                  for index, corruption in enumerate(CORRUPTIONS)}
        _write(folder / 'robustness' / 'results.json', {
            'imagenet': {'images': 8, 'top1': 80.0 * gain + 5}, 'imagenet-a': {'images': 8, 'top1': 30.0 * gain},
            'imagenet-c': {'errors': errors, 'ce': {c: 60.0 + 10 * i * gain for i, c in enumerate(CORRUPTIONS)},
                           'mce': None, 'one_minus_mce': None, 'relative_mce': None,
                           'missing_corruptions': ['snow'], 'mce_gap': 'no snow corruption under the data root'}})
    results = dict(checkpoints=checkpoints, runs=[dict(date='2026-01-01T00:00:00+00:00', git_commit='0123abc',
                                                       libraries={'torch': '2.14.1'})])
    _write(out / 'results.json', results)
    os.makedirs(out / 'pretrain', exist_ok=True)
    _write(out / 'pretrain' / '20260101_000000' / 'vis_data' / 'scalars.json', _scalars(True, 'unused', 1.0))
    return out
