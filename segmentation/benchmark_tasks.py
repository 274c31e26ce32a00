"""The segmentation task of the benchmark suite: ADE20k UperNet (MAE recipe), single-scale mIoU.

Registered in :data:`siameseim.registry.BENCHMARK_TASKS`; the ``full`` profile runs the 160k-iteration config of
this folder on ``data/ade/ADEChallengeData2016``, the ``demo`` profile the 64x64 toy config with the tiny backbone.
"""
import os.path as osp

from mmengine.config import Config

from siameseim.benchmark import DEMO_BACKBONE, ConfigTask, missing_paths
from siameseim.models.vit import resolve_arch
from siameseim.registry import BENCHMARK_TASKS

CONFIGS = osp.join(osp.dirname(osp.abspath(__file__)), 'configs')


@BENCHMARK_TASKS.register_module(name='ade20k')
class Ade20kTask(ConfigTask):
    """ADE20k UperNet (MAE recipe), single-scale mIoU."""

    name = 'ade20k'
    order = 70
    show_images = 4

    def missing_data(self, ctx):
        root = osp.join(ctx.data_root, 'ade', 'ADEChallengeData2016')
        return missing_paths([osp.join(root, 'images', 'training'), osp.join(root, 'annotations', 'validation')])

    def config(self, checkpoint, ctx):
        if ctx.profile == 'demo':
            cfg = Config.fromfile(osp.join(CONFIGS, 'upernet_vit-tiny_ade20k-64x64_toy.py'))
            cfg.model.backbone.update(DEMO_BACKBONE, img_size=(64, 64))
            width = DEMO_BACKBONE['embed_dim']
            cfg.model.neck.embed_dim = width
            cfg.model.decode_head.in_channels = [width] * 4
            cfg.model.auxiliary_head.in_channels = width
            cfg.train_cfg.max_iters = ctx.extra.get('segmentation_iters', 20)
        else:
            letter = {768: 'b', 1024: 'l'}.get(resolve_arch(checkpoint.arch)['embed_dim'], '')
            path = osp.join(CONFIGS, f'upernet_vit-{letter}_160k_ade20k-512x512.py')
            if not osp.isfile(path):
                raise ValueError(f'no ADE20k config for arch {checkpoint.arch}: available for vit-b and vit-l')
            cfg = Config.fromfile(path)
        root = osp.join(ctx.data_root, 'ade', 'ADEChallengeData2016')
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            cfg[loader].dataset.data_root = root
        cfg.model.backbone.pretrained = checkpoint.path
        return cfg

    def metrics(self, raw):
        key = next(key for key in raw if key.split('/')[-1] == 'mIoU')
        return {'mIoU': raw[key]}
