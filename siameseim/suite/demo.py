"""The embedded demo: toy data in every format, a tiny SiameseIM pretraining, every task, the table.

Runs on a CPU with nothing downloaded. The numbers are those of tiny models on toy data — they show that
every stage runs end to end and how the table reads, not what the recipes reach.
"""
import os
import os.path as osp
from typing import Callable, Dict, Optional

from mmengine.config import Config

from .runner import SuiteContext
from .tasks import DEMO_BACKBONE, REPO_ROOT, _last_checkpoint, _launch

PRETRAIN_CONFIG = osp.join(REPO_ROOT, 'pretrain', 'configs', 'siameseim_vit-tiny-p16_1xb8-20e_toy.py')
DEMO_IMAGE_SIZE = 64


def make_demo_data(root: str, log: Callable[[str], None] = print) -> Dict[str, str]:
    """Toy ImageNet (+A/R/Sketch/C), COCO, LVIS v1 and ADE20k sets in the ``data/`` layout, and a 1 % list."""
    from detection.toy import make_toy_coco, make_toy_lvis
    from robustness.toy import make_toy_benchmarks
    from segmentation.toy import make_ade20k_toy

    marker = osp.join(root, '.complete')
    subset_file = osp.join(root, 'imagenet', '1percent.txt')
    if osp.isfile(marker):
        log(f'[demo] toy data sets in {root}: already generated')
        return dict(root=root, subset_file=subset_file)
    log(f'[demo] generating toy data sets in {root}: ImageNet (+A/R/Sketch/C), COCO, LVIS v1, ADE20k')
    make_toy_benchmarks(root, size=DEMO_IMAGE_SIZE + 8, corruption_size=DEMO_IMAGE_SIZE)
    make_toy_coco(root)
    make_toy_lvis(root, rare_in_val=True)
    make_ade20k_toy(osp.join(root, 'ade', 'ADEChallengeData2016'), num_train=8, num_val=4, size=(64, 96))
    train = osp.join(root, 'imagenet', 'train')
    names = [name for wnid in sorted(os.listdir(train)) for name in sorted(os.listdir(osp.join(train, wnid)))[:3]]
    with open(subset_file, 'w') as f:
        f.write('\n'.join(names))
    open(marker, 'w').close()
    return dict(root=root, subset_file=subset_file)


def pretrain_config(data_root: str, iterations: int) -> Config:
    """The tiny pretraining config on the toy ImageNet train images, about ``iterations`` steps long."""
    cfg = Config.fromfile(PRETRAIN_CONFIG)
    images = osp.join(data_root, 'imagenet', 'train')
    num_images = sum(len(files) for _, _, files in os.walk(images))
    per_epoch = max(num_images // cfg.train_dataloader.batch_size, 1)
    epochs = max(-(-iterations // per_epoch), 2)
    warmup = max(epochs // 10, 1)
    cfg.model.encoder.update(DEMO_BACKBONE, img_size=DEMO_IMAGE_SIZE)
    cfg.train_dataloader.dataset.root = images
    cfg.train_cfg.max_epochs = epochs
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=warmup, convert_to_iter_based=True),
        dict(type='CosineAnnealingLR', T_max=epochs - warmup, eta_min=0.0, by_epoch=True, begin=warmup,
             end=epochs, convert_to_iter_based=True),
    ]
    cfg.default_hooks.checkpoint.interval = epochs
    cfg.default_hooks.logger.interval = 20
    return cfg


def pretrain_tiny(work_dir: str, data_root: str, iterations: int, ctx: SuiteContext) -> str:
    """Pretrain the tiny SiameseIM (resuming if interrupted); returns its final checkpoint."""
    done = osp.join(work_dir, 'last_checkpoint')
    cfg = pretrain_config(data_root, iterations)
    final = osp.join(work_dir, f'epoch_{cfg.train_cfg.max_epochs}.pth')
    if osp.isfile(done) and osp.isfile(final):
        ctx.log(f'[demo] tiny SiameseIM pretraining: done in an earlier run ({final})')
        return final
    os.makedirs(work_dir, exist_ok=True)
    ctx.log(f'[demo] pretraining a tiny SiameseIM for {cfg.train_cfg.max_epochs} epochs '
            f'(about {iterations} iterations) in {work_dir}')
    cfg.work_dir = work_dir
    config_path = osp.join(work_dir, 'siameseim-tiny_pretrain.py')
    cfg.dump(config_path)
    _launch('train', [config_path, '--work-dir', work_dir], ctx, work_dir)
    return _last_checkpoint(work_dir)


def demo_context(out_dir: str, quick: bool, log: Callable[[str], None] = print,
                 data_root: Optional[str] = None) -> SuiteContext:
    """The suite context of the demo profile (``quick`` shortens every run, for CI)."""
    extra = dict(device='cpu', quiet=True, detection_iters=2 if quick else 20,
                 segmentation_iters=4 if quick else 40)
    return SuiteContext(out_dir=out_dir, data_root=data_root or osp.join(out_dir, 'data'), profile='demo', log=log,
                        extra=extra)
