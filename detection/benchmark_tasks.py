"""The detection tasks of the benchmark suite: COCO and LVIS v1 Mask R-CNN (ViTDet recipe), box and mask AP
(LVIS also the rare-class APs).

Registered in :data:`siameseim.registry.BENCHMARK_TASKS`; the ``full`` profile runs the configs of this folder
on ``data/coco`` / ``data/lvis_v1``, the ``demo`` profile the same configs scaled down (:mod:`.toy`) on toy data.
"""
import json
import os.path as osp

from mmengine.config import Config

from siameseim.benchmark import DEMO_BACKBONE, ConfigTask, missing_paths
from siameseim.models.vit import resolve_arch
from siameseim.registry import BENCHMARK_TASKS

CONFIGS = osp.join(osp.dirname(osp.abspath(__file__)), 'configs')


class _DetectionTask(ConfigTask):
    """Mask R-CNN on one data set: ``folder`` under the data root, its annotation files, config and metric."""

    show_images = 4
    folder = ''
    annotations = ()
    config_dataset = ''
    metric_prefix = ''
    ap_suffix = ''
    evaluator = ''

    def missing_data(self, ctx):
        root = osp.join(ctx.data_root, self.folder)
        return missing_paths([osp.join(root, 'annotations', name) for name in self.annotations])

    def config(self, checkpoint, ctx):
        letter = 'b' if ctx.profile == 'demo' else {768: 'b', 1024: 'l'}.get(
            resolve_arch(checkpoint.arch)['embed_dim'], '')
        path = osp.join(CONFIGS, f'mask-rcnn_vit-{letter}_lsj-100e_{self.config_dataset}.py')
        if not osp.isfile(path):
            raise ValueError(f'no detection config for arch {checkpoint.arch}: available for vit-b and vit-l')
        cfg = Config.fromfile(path)
        root = osp.join(ctx.data_root, self.folder) + '/'
        if ctx.profile == 'demo':
            from .toy import scale_down
            with open(osp.join(root, 'annotations', self.annotations[0])) as f:
                categories = sorted(json.load(f)['categories'], key=lambda category: category['id'])
            cfg = scale_down(cfg, root, max_iters=ctx.extra.get('detection_iters', 6), categories=categories)
            cfg.model.backbone.update(DEMO_BACKBONE)
        else:
            for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
                cfg[loader].dataset.data_root = root
            for evaluator in ('val_evaluator', 'test_evaluator'):
                cfg[evaluator].ann_file = root + osp.relpath(cfg[evaluator].ann_file, cfg.data_root)
            loss_cls = cfg.model.roi_head.bbox_head.loss_cls
            if 'image_count_file' in loss_cls:
                loss_cls.image_count_file = root + 'annotations/lvis_v1_train.json'
        cfg.model.backbone.pretrained = checkpoint.path
        return cfg

    def metric_keys(self):
        return {f'{kind}_AP': f'{self.metric_prefix}/{kind}_{self.ap_suffix}' for kind in ('bbox', 'segm')}

    def metrics(self, raw):
        keys = self.metric_keys()
        absent = [key for key in keys.values() if key not in raw]
        if absent:
            raise RuntimeError(f'the evaluation wrote no {absent[0]} (it wrote {", ".join(sorted(raw)) or "nothing"}):'
                               f' use the {self.evaluator} evaluator of the detection configs')
        # pycocotools and the lvis API report -1 where there is no ground truth: no value, not -100.
        return {name: 100.0 * raw[key] for name, key in keys.items() if raw[key] >= 0}


@BENCHMARK_TASKS.register_module(name='coco')
class CocoTask(_DetectionTask):
    """COCO 2017 Mask R-CNN: AP^box and AP^mask on val2017."""

    name = 'coco'
    order = 50
    folder = 'coco'
    annotations = ('instances_train2017.json', 'instances_val2017.json')
    config_dataset = 'coco'
    metric_prefix = 'coco'
    ap_suffix = 'mAP'
    evaluator = 'CheckedCocoMetric'


@BENCHMARK_TASKS.register_module(name='lvis')
class LvisTask(_DetectionTask):
    """LVIS v1 Mask R-CNN: AP^box, AP^mask and their rare-class APs on val."""

    name = 'lvis'
    order = 60
    folder = 'lvis_v1'
    annotations = ('lvis_v1_train.json', 'lvis_v1_val.json')
    config_dataset = 'lvis-v1'
    metric_prefix = 'lvis'
    ap_suffix = 'AP'
    evaluator = 'LVISEvalMetric'

    def metric_keys(self):
        keys = super().metric_keys()
        keys.update({f'{kind}_APr': f'lvis/{kind}_APr' for kind in ('bbox', 'segm')})
        return keys
