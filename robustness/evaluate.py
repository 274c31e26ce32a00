"""Evaluate an ImageNet classifier on ImageNet val, -A, -R, -Sketch and -C through mmengine's runner.

Each set is a dataset + metric pair in a test config (``robustness/configs/robustness/vit-b_ft_<set>.py``)
that ``tools/test.py`` runs on one process, under ``torchrun`` or under slurm. :func:`benchmark_config`
moves a set's test parts onto any classifier config (the fine-tuning config a checkpoint was trained with),
and :func:`run_benchmarks` runs every set found under an OpenMMLab-style data root (docs/protocols.md §6), in an
order that gives ImageNet-C the val error relative mCE needs::

    data/imagenet/val/<wnid>/*.JPEG                  val top-1 / top-5 (also the clean error of relative mCE)
    data/imagenet-a/<wnid>/*.jpg                     top-1 on the 200 A classes (restricted logits)
    data/imagenet-r/<wnid>/*.jpg                     top-1 on the 200 R classes (restricted logits)
    data/sketch/<wnid>/*.JPEG                        1000-way top-1
    data/imagenet-c/<corruption>/<1..5>/<wnid>/*     error per corruption and severity, mCE, 1 − mCE

``tools/eval_robustness.py`` runs the configs in its own process; the suite's ``robustness`` task runs each
through ``tools/test.py`` with the suite's launcher.
"""
import copy
import math
import os
import os.path as osp
from typing import Callable, Dict, Mapping, Optional, Sequence, Tuple

from mmengine.config import Config

from siameseim.errors import InputError
from siameseim.packaged_configs import resolve_config

from .datasets import DECODES
from .metrics import CORRUPTIONS, SEVERITIES

SETS = ('imagenet', 'imagenet-a', 'imagenet-r', 'sketch', 'imagenet-c')
SET_FOLDERS = {'imagenet': 'imagenet/val', 'imagenet-a': 'imagenet-a', 'imagenet-r': 'imagenet-r',
               'sketch': 'sketch', 'imagenet-c': 'imagenet-c'}
CONFIGS = osp.join(osp.dirname(osp.abspath(__file__)), 'configs')
# The parts of a set's test config that :func:`benchmark_config` moves onto a classifier config.
TEST_KEYS = ('test_dataloader', 'test_evaluator', 'test_cfg', 'custom_hooks')


def set_config_path(name: str) -> str:
    """The shipped test config of benchmark ``name`` (ViT-B/16 fine-tuned classifier)."""
    if name not in SETS:
        raise ValueError(f'unknown benchmark {name!r}: choose from {SETS}')
    return osp.join(CONFIGS, 'robustness', f'vit-b_ft_{name}.py')


def classifier_config(config: Optional[str] = None, arch: str = 'vit-b') -> Config:
    """The classifier's config: ``config`` (the fine-tuning config of the checkpoint), else the ViT-B/16
    fine-tuning config with ``arch`` as its backbone (the fine-tuning layout: mean pool → ``fc_norm`` → head)."""
    if config is not None:
        try:
            path = resolve_config(config)
        except InputError:
            raise FileNotFoundError(f'config file {config} does not exist: pass the config the checkpoint was '
                                    f'trained with') from None
        return Config.fromfile(path)
    cfg = Config.fromfile(osp.join(CONFIGS, 'vit-b_ft-100e_in1k.py'))
    cfg.model.backbone.arch = arch
    return cfg


def eval_geometry(classifier: Config) -> Tuple[int, int]:
    """``(crop_size, resize)`` of the classifier config's own test transform (an ``EvalTransform``), so the
    robustness sets are seen as its ImageNet val was."""
    transform = classifier.get('test_dataloader', {}).get('dataset', {}).get('transform', {})
    if transform.get('type') != 'EvalTransform':
        raise ValueError(f'the classifier config tests with {transform.get("type")!r}, not EvalTransform: pass '
                         f'the crop and resize sizes explicitly')
    return transform.get('crop_size', 224), transform.get('resize', 256)


def benchmark_config(classifier: Config, name: str, folder: str, *, crop_size: int = 224, resize: int = 256,
                     imagenet_c_resize: bool = False, decode: str = 'cpu', batch_size: Optional[int] = None,
                     num_workers: Optional[int] = None, clean_top1: Optional[float] = None,
                     amp: bool = False) -> Config:
    """A test config of benchmark ``name`` on ``folder`` for the model of ``classifier``.

    The set's dataset, metric, test loop and strict checkpoint hook come from its shipped config; the
    transform is Resize(``resize``, bicubic) → CenterCrop(``crop_size``), ImageNet-C crop only unless
    ``imagenet_c_resize``. ``clean_top1`` (val top-1, %) gives ImageNet-C its relative mCE; ``amp`` runs
    the test loop in fp16 autocast.
    """
    if decode not in DECODES:
        raise ValueError(f'decode must be one of {DECODES}, got {decode!r}')
    cfg = copy.deepcopy(classifier)
    tests = Config.fromfile(set_config_path(name))
    for key in TEST_KEYS:
        cfg[key] = copy.deepcopy(tests[key])
    cfg.model.data_preprocessor = copy.deepcopy(tests.model.data_preprocessor)
    loader = cfg.test_dataloader
    c_crop_only = name == 'imagenet-c' and not imagenet_c_resize
    loader.dataset.update(root=folder, decode=decode)
    loader.dataset.transform.update(crop_size=crop_size, resize=None if c_crop_only else resize)
    if batch_size is not None:
        loader.batch_size = batch_size
    if num_workers is not None:
        loader.update(num_workers=num_workers, persistent_workers=False)
    if name == 'imagenet-c':
        cfg.test_evaluator.clean_top1 = clean_top1
    cfg.test_cfg.fp16 = amp
    return cfg


def find_benchmarks(data_root: str, sets: Sequence[str] = SETS) -> Tuple[Dict[str, str], Dict[str, str]]:
    """``(found, missing)``: set name → folder, and set name → why it is skipped (in :data:`SETS` order)."""
    found, missing = {}, {}
    for name in sets:
        if name not in SET_FOLDERS:
            raise ValueError(f'unknown benchmark {name!r}: choose from {SETS}')
    for name in (name for name in SETS if name in sets):
        folder = os.path.join(data_root, SET_FOLDERS[name])
        if os.path.isdir(folder):
            found[name] = folder
        else:
            missing[name] = f'{folder} not found'
    return found, missing


def benchmark_results(name: str, metrics: Mapping[str, object]) -> dict:
    """The results entry of benchmark ``name`` from the metrics of its test run (``<name>/<key>`` keys)."""
    prefix = f'{name}/'
    entry = {key[len(prefix):]: value for key, value in metrics.items() if key.startswith(prefix)}
    if 'images' not in entry:
        raise ValueError(f'the metrics hold no {prefix}images: the test config did not score {name} with its '
                         f'metric (robustness/configs/robustness/vit-b_ft_{name}.py)')
    entry['images'] = int(entry['images'])
    return entry


def run_benchmarks(classifier: Config, data_root: str, run: Callable[[str, Config], Mapping[str, object]], *,
                   sets: Sequence[str] = SETS, crop_size: int = 224, resize: int = 256,
                   imagenet_c_resize: bool = False, decode: str = 'cpu', log: Callable[[str], None] = print,
                   **options) -> dict:
    """Evaluate every set of ``sets`` found under ``data_root``; ``run(name, cfg)`` executes a test config and
    returns its metrics. ImageNet val runs first, so ImageNet-C gets its clean error; results as a dict."""
    found, missing = find_benchmarks(data_root, sets)
    for name, why in missing.items():
        log(f'[skip] {name}: {why}')
    c_resize = resize if imagenet_c_resize else None
    results = dict(data_root=data_root, skipped=missing, transform=dict(
        eval=f'Resize({resize}, bicubic) -> CenterCrop({crop_size})',
        imagenet_c=f'Resize({c_resize}, bicubic) -> CenterCrop({crop_size})' if c_resize else
        f'CenterCrop({crop_size}) only (files are 224x224, hendrycks test.py)', decode=decode))
    for name, folder in found.items():
        clean_top1 = results['imagenet']['top1'] if 'imagenet' in results else None
        cfg = benchmark_config(classifier, name, folder, crop_size=crop_size, resize=resize,
                               imagenet_c_resize=imagenet_c_resize, decode=decode, clean_top1=clean_top1, **options)
        log(f'[{name}] {folder}')
        results[name] = benchmark_results(name, run(name, cfg))
        if name == 'imagenet-c':
            c = results[name]
            log(f'[imagenet-c] {c["images"]} images, mCE {_fmt(c["mce"])}, 1 - mCE {_fmt(c["one_minus_mce"])}')
            if c.get('mce_gap'):
                log(f'[imagenet-c] mCE not computed under {folder}: {c["mce_gap"]}')
        else:
            log(f'[{name}] {results[name]["images"]} images, top-1 {results[name]["top1"]:.2f}')
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
    lines += [f'| {name} | {_fmt(value)} |' for name, value in rows
              if value is not None or name.startswith('ImageNet-C')]
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


__all__ = ['SETS', 'benchmark_config', 'benchmark_results', 'classifier_config', 'eval_geometry', 'find_benchmarks',
           'results_markdown', 'run_benchmarks', 'set_config_path']
