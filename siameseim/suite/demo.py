"""The embedded demo: the toy world in every format, tiny SiameseIM and MAE pretrainings (MoCo-v3 and the paper's
ablation rows on request), every task, the table.

Runs on a CPU with nothing downloaded. The classes of the toy world are shapes (colour, texture, size, position
and a small tilt are random), so features have to be learnt; the table compares both pretrained encoders with a
randomly initialised one, cheap evaluations over several seeds. The numbers are those of tiny models on toy
data, not what the recipes reach: at the default budget neither pretraining beats random init clearly
(docs/benchmarks.md has the curves).
"""
import json
import os
import os.path as osp
from typing import Callable, Dict, List, Optional

from mmengine.config import Config

from .. import pretrain
from ..pretrain.ablation import row_config_path, tiny_config
from ..atomic import write_text_atomically
from ..benchmark import DEMO_BACKBONE, SuiteContext, last_checkpoint, launch
from .toy_data import ToyWorldSizes, make_toy_world

_PRETRAIN_CONFIGS = osp.join(osp.dirname(osp.abspath(pretrain.__file__)), 'configs')
PRETRAIN_CONFIGS = {
    'siameseim': osp.join(_PRETRAIN_CONFIGS, 'siameseim_vit-tiny-p16_1xb8-20e_toy.py'),
    'mae': osp.join(_PRETRAIN_CONFIGS, 'mae_vit-tiny-p16_1xb8-20e_toy.py'),
    'mocov3': osp.join(_PRETRAIN_CONFIGS, 'mocov3', 'mocov3_vit-tiny-p16_1xb8-20e_toy.py'),
}
PRETRAIN_LABELS = {'siameseim': 'SiameseIM', 'mae': 'MAE', 'mocov3': 'MoCo-v3'}
# The methods the demo pretrains unless told otherwise (--methods adds MoCo-v3 or ablation rows).
DEMO_METHODS = ('siameseim', 'mae')
# A method named ``row-<letter>`` is that row of the paper's ablation at the toy scale (docs/ablation.md).
ABLATION_PREFIX = 'row-'
DEMO_IMAGE_SIZE = 64


def make_demo_data(root: str, sizes: ToyWorldSizes = ToyWorldSizes(),
                   log: Callable[[str], None] = print) -> Dict[str, object]:
    """The toy world in every format (``siameseim.suite.toy_data``), generated once per ``root``."""
    marker = osp.join(root, '.complete')
    if osp.isfile(marker):
        with open(marker) as f:
            try:
                data = json.load(f)
            except ValueError:
                data = {}
        if 'subset_files' not in data:
            raise ValueError(f'{root} holds the toy data of an older demo version: remove it or use another --out')
        log(f'[demo] toy data sets in {root}: already generated')
        return data
    log(f'[demo] generating the toy world in {root}: ImageNet (+A/R/Sketch/C), COCO, LVIS v1, ADE20k')
    data = make_toy_world(root, sizes, log=log)
    write_text_atomically(marker, json.dumps(data))
    return data


def method_label(method: str) -> str:
    """How the logs name ``method``: ``SiameseIM``, ``MAE``, ``MoCo-v3`` or ``ablation row (i)``."""
    if method.startswith(ABLATION_PREFIX):
        return f'ablation row ({method[len(ABLATION_PREFIX):]})'
    return PRETRAIN_LABELS[method]


def method_config(method: str, images: str) -> Config:
    """The toy config of ``method``: a key of :data:`PRETRAIN_CONFIGS`, or ``row-<letter>`` for that ablation
    row shrunk to the toy scale (:func:`siameseim.pretrain.ablation.tiny_config`)."""
    if method.startswith(ABLATION_PREFIX):
        return tiny_config(Config.fromfile(row_config_path(method[len(ABLATION_PREFIX):])), images)
    if method not in PRETRAIN_CONFIGS:
        raise ValueError(f'unknown pretraining method {method!r}: choose from {", ".join(PRETRAIN_CONFIGS)} or '
                         f'{ABLATION_PREFIX}<a…k>')
    return Config.fromfile(PRETRAIN_CONFIGS[method])


def pretrain_schedule(total_iters: int, warmup_fraction: float = 0.1) -> List[dict]:
    """Per-iteration linear warm-up from 1e-3 of the lr to the full lr, then cosine to 0, over ``total_iters``.

    mmengine's ``LinearLR`` over ``n`` steps reaches its end factor at step ``n - 1``: a one-step warm-up never
    leaves ``start_factor``, and the chained cosine then anneals from there, so a short run would train at
    1e-3 of its lr throughout. The warm-up therefore spans at least two iterations and leaves at least one
    iteration to the cosine.
    """
    if total_iters < 3:
        raise ValueError(f'a pretraining schedule needs at least 3 iterations, got {total_iters}')
    warmup = min(max(round(warmup_fraction * total_iters), 2), total_iters - 1)
    return [
        dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=warmup),
        dict(type='CosineAnnealingLR', T_max=total_iters - warmup, eta_min=0.0, by_epoch=False, begin=warmup,
             end=total_iters),
    ]


def pretrain_config(method: str, data_root: str, iterations: int, batch_size: int,
                    checkpoint_every: Optional[int] = None, options: Optional[dict] = None) -> Config:
    """The tiny ``method`` (``siameseim``, ``mae``, ``mocov3`` or an ablation ``row-<letter>``) pretraining on
    the toy ImageNet train images, about ``iterations`` steps of ``batch_size`` images (whole epochs, at least
    two and three steps), with the demo backbone; the final checkpoint only, or one every ``checkpoint_every``
    epochs (all kept); ``options`` (``--cfg-options`` style keys) are merged in last."""
    images = osp.join(data_root, 'imagenet', 'train')
    cfg = method_config(method, images)
    num_images = sum(len(files) for _, _, files in os.walk(images))
    cfg.train_dataloader.batch_size = batch_size
    per_epoch = max(num_images // batch_size, 1)
    epochs = max(-(-max(iterations, 3) // per_epoch), 2)
    cfg.model.encoder.update(DEMO_BACKBONE, img_size=DEMO_IMAGE_SIZE)
    cfg.train_dataloader.dataset.root = images
    cfg.train_cfg.max_epochs = epochs
    cfg.param_scheduler = pretrain_schedule(epochs * per_epoch)
    if checkpoint_every is None:
        cfg.default_hooks.checkpoint.interval = epochs
    else:
        cfg.default_hooks.checkpoint.update(interval=checkpoint_every, max_keep_ckpts=-1)
    cfg.default_hooks.logger.interval = 20
    if options:
        cfg.merge_from_dict(options)
    return cfg


def pretrain_tiny(method: str, work_dir: str, data_root: str, iterations: int, batch_size: int,
                  ctx: SuiteContext, checkpoint_every: Optional[int] = None, options: Optional[dict] = None) -> str:
    """Pretrain the tiny ``method`` with the training program (resuming if interrupted); returns its final
    checkpoint (``checkpoint_every`` and ``options``: see :func:`pretrain_config`)."""
    done = osp.join(work_dir, 'last_checkpoint')
    cfg = pretrain_config(method, data_root, iterations, batch_size, checkpoint_every, options)
    final = osp.join(work_dir, f'epoch_{cfg.train_cfg.max_epochs}.pth')
    label = method_label(method)
    if osp.isfile(done) and osp.isfile(final):
        ctx.log(f'[demo] tiny {label} pretraining: done in an earlier run ({final})')
        return final
    os.makedirs(work_dir, exist_ok=True)
    ctx.log(f'[demo] pretraining a tiny {label} for {cfg.train_cfg.max_epochs} epochs '
            f'(about {iterations} iterations of {batch_size} images) in {work_dir}')
    cfg.work_dir = work_dir
    config_path = osp.join(work_dir, f'{method}-tiny_pretrain.py')
    cfg.dump(config_path)
    launch('train', [config_path, '--work-dir', work_dir], ctx, work_dir)
    return last_checkpoint(work_dir)


# Sizes of the toy world: the default demo, and the shortened CI variant (--quick).
DEMO_SIZES = ToyWorldSizes()
QUICK_SIZES = ToyWorldSizes(train_per_class=4, val_per_class=4, ood_per_class=2, corrupted_per_class=1,
                            fewshot_per_class=2, fewshot_seeds=2, detection_train=8, detection_val=4, ade_train=8,
                            ade_val=4)
# Seeds of the cheap evaluations (few-shot takes one seeded subset list per seed, see toy_data) and of the
# dense tasks whose pretrained - random difference the demo reports with its spread.
DEMO_SEEDS = {'linear': [0, 1, 2], 'knn': [0, 1, 2], 'coco': [0, 1], 'ade20k': [0, 1]}
QUICK_SEEDS = {'linear': [0, 1], 'knn': [0, 1]}


def demo_context(out_dir: str, quick: bool, log: Callable[[str], None] = print,
                 data_root: Optional[str] = None) -> SuiteContext:
    """The suite context of the demo profile (``quick`` shortens every run, for CI)."""
    extra = dict(device='cpu', quiet=True, detection_iters=2 if quick else 20,
                 segmentation_iters=4 if quick else 40, seeds=QUICK_SEEDS if quick else DEMO_SEEDS)
    return SuiteContext(out_dir=out_dir, data_root=data_root or osp.join(out_dir, 'data'), profile='demo', log=log,
                        extra=extra)
