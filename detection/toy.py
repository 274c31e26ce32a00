"""Tiny COCO and LVIS v1 datasets in the real formats, and a scale-down of the real configs to them.

Used by the tests and the CPU demo: images of known shapes with exact polygon masks (axis-aligned rectangles
and right triangles on integer vertices), non-contiguous category ids, and for LVIS the r/c/f frequency
groups, ``coco_url``, ``neg_category_ids`` and ``not_exhaustive_category_ids`` of the v1 files.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import numpy as np
from mmengine.config import Config, ConfigDict
from PIL import Image, ImageDraw

COCO_CATEGORIES = ({'id': 1, 'name': 'red_box'}, {'id': 3, 'name': 'green_triangle'}, {'id': 7, 'name': 'blue_box'})
LVIS_CATEGORIES = (
    {'id': 1, 'name': 'red_box', 'frequency': 'f', 'synset': 'box.n.01'},
    {'id': 2, 'name': 'green_triangle', 'frequency': 'c', 'synset': 'triangle.n.01'},
    {'id': 3, 'name': 'blue_box', 'frequency': 'r', 'synset': 'box.n.02'},
)
COLORS = ((220, 30, 30), (30, 200, 40), (30, 40, 220))


def _shape(category_index: int, x: int, y: int, w: int, h: int) -> List[float]:
    """Polygon of the class shape in the box (x, y, w, h): a rectangle, or a right triangle for class 1."""
    if category_index == 1:
        return [x, y, x + w, y + h, x, y + h]
    return [x, y, x + w, y, x + w, y + h, x, y + h]


def _polygon_area(polygon: Sequence[float]) -> float:
    xs, ys = np.asarray(polygon[0::2], float), np.asarray(polygon[1::2], float)
    return float(abs(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1))) / 2)


def write_split(folder: str, image_ids: Sequence[int], categories: Sequence[dict], size: Tuple[int, int],
                rng: np.random.Generator, first_ann_id: int) -> Tuple[List[dict], List[dict]]:
    """Draw the images of one split into ``folder``; return their image records and annotations."""
    os.makedirs(folder, exist_ok=True)
    height, width = size
    images, annotations = [], []
    for image_id in image_ids:
        canvas = Image.new('RGB', (width, height), (128, 128, 128))
        draw = ImageDraw.Draw(canvas)
        cells = rng.permutation(4)[:int(rng.integers(1, 4))]
        for cell in map(int, cells):
            index = int(rng.integers(len(categories)))
            cell_w, cell_h = width // 2, height // 2
            w, h = int(rng.integers(cell_w // 2, cell_w - 4)), int(rng.integers(cell_h // 2, cell_h - 4))
            x = (cell % 2) * cell_w + int(rng.integers(2, cell_w - w - 1))
            y = (cell // 2) * cell_h + int(rng.integers(2, cell_h - h - 1))
            polygon = _shape(index, x, y, w, h)
            draw.polygon(polygon, fill=COLORS[index])
            annotations.append(dict(id=first_ann_id + len(annotations), image_id=image_id,
                                    category_id=categories[index]['id'], bbox=[x, y, w, h],
                                    area=_polygon_area(polygon), segmentation=[polygon], iscrowd=0))
        file_name = f'{image_id:012d}.jpg'
        canvas.save(osp.join(folder, file_name), quality=95)
        images.append(dict(id=image_id, file_name=file_name, height=height, width=width))
    return images, annotations


def make_toy_coco(root: str, num_train: int = 8, num_val: int = 4, size: Tuple[int, int] = (96, 128),
                  seed: int = 0) -> str:
    """``root/coco/{annotations,train2017,val2017}`` as docs/protocols.md §6; returns ``root/coco/``."""
    rng = np.random.default_rng(seed)
    coco = osp.join(root, 'coco')
    os.makedirs(osp.join(coco, 'annotations'), exist_ok=True)
    next_ann = 1
    for split, ids in (('train2017', range(1, num_train + 1)), ('val2017', range(101, 101 + num_val))):
        images, annotations = write_split(osp.join(coco, split), list(ids), COCO_CATEGORIES, size, rng, next_ann)
        next_ann += len(annotations)
        with open(osp.join(coco, 'annotations', f'instances_{split}.json'), 'w') as f:
            json.dump(dict(images=images, annotations=annotations, categories=list(COCO_CATEGORIES)), f)
    return coco + '/'


def make_toy_lvis(root: str, num_train: int = 8, num_val: int = 4, size: Tuple[int, int] = (96, 128),
                  seed: int = 0, rare_in_val: bool = False) -> str:
    """``root/lvis_v1/{annotations,train2017,val2017}`` in the LVIS v1 format; returns ``root/lvis_v1/``.

    By default the rare category (id 3) appears in training only, so the val APr is -1 (the lvis API's "no
    ground truth"); ``rare_in_val`` puts it in val too, so every LVIS metric has a value.
    """
    rng = np.random.default_rng(seed)
    lvis = osp.join(root, 'lvis_v1')
    os.makedirs(osp.join(lvis, 'annotations'), exist_ok=True)
    next_ann = 1
    splits: Dict[str, dict] = {}
    val_categories = LVIS_CATEGORIES if rare_in_val else LVIS_CATEGORIES[:2]
    for split, ids, cats in (('train', range(1, num_train + 1), LVIS_CATEGORIES),
                             ('val', range(101, 101 + num_val), val_categories)):
        images, annotations = write_split(osp.join(lvis, f'{split}2017'), list(ids), cats, size, rng, next_ann)
        next_ann += len(annotations)
        for image in images:
            present = {ann['category_id'] for ann in annotations if ann['image_id'] == image['id']}
            absent = sorted({cat['id'] for cat in cats} - present)
            image['coco_url'] = f"http://images.cocodataset.org/{split}2017/{image.pop('file_name')}"
            image['neg_category_ids'] = absent[:1]
            image['not_exhaustive_category_ids'] = sorted(present)[:1] if image['id'] % 2 else []
        splits[split] = dict(images=images, annotations=annotations)
    train_anns = splits['train']['annotations']
    categories = []
    for category in LVIS_CATEGORIES:
        own = [ann for ann in train_anns if ann['category_id'] == category['id']]
        categories.append(dict(category, image_count=len({ann['image_id'] for ann in own}),
                               instance_count=len(own), synonyms=[category['name']], **{'def': category['name']}))
    for split, content in splits.items():
        with open(osp.join(lvis, 'annotations', f'lvis_v1_{split}.json'), 'w') as f:
            json.dump(dict(content, categories=categories, info={}, licenses=[]), f)
    return lvis + '/'


def _set_image_size(pipeline: Sequence[dict], size: Tuple[int, int]) -> None:
    for transform in pipeline:
        for key in ('scale', 'crop_size'):
            if key in transform:
                transform[key] = size


def scale_down(cfg: Config, data_root: str, image_size: int = 128, max_iters: int = 2,
               categories: Sequence[dict] = COCO_CATEGORIES) -> Config:
    """The same detector, data pipeline and schedule with a tiny ViT, narrow heads and the toy data.

    Everything the recipe fixes (window + global blocks, rel-pos, LN2d, 2-conv RPN, 4conv1fc, losses,
    samplers, metrics) is kept; only widths, depth, image size, data paths and lengths change.
    """
    cfg = cfg.copy()
    size = (image_size, image_size)
    classes = tuple(cat['name'] for cat in categories)
    model = cfg.model
    model.data_preprocessor.pad_size_divisor = image_size
    model.backbone.update(arch=None, embed_dim=64, depth=4, num_heads=2, img_size=size, window_size=4,
                          global_attn_indexes=(1, 3), pretrained=None)
    model.neck.update(backbone_channel=64, in_channels=[16, 32, 64, 64], out_channels=32)
    model.rpn_head.update(in_channels=32, feat_channels=32)
    roi = model.roi_head
    roi.bbox_roi_extractor.out_channels = roi.mask_roi_extractor.out_channels = 32
    roi.bbox_head.update(in_channels=32, conv_out_channels=32, fc_out_channels=64, num_classes=len(classes))
    roi.mask_head.update(in_channels=32, conv_out_channels=32, num_classes=len(classes))
    if roi.bbox_head.loss_cls.type == 'FederatedLoss':
        roi.bbox_head.loss_cls.update(num_classes=len(classes), num_fed_classes=2,
                                      image_count_file=data_root + 'annotations/lvis_v1_train.json')
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[name]
        loader.update(batch_size=2 if name == 'train_dataloader' else 1, num_workers=0, persistent_workers=False)
        dataset = loader.dataset
        dataset.data_root = data_root
        dataset.metainfo = dict(classes=classes)
        _set_image_size(dataset.pipeline, size)
        if name == 'train_dataloader':
            loader.sampler.seed = 0
    for name in ('val_evaluator', 'test_evaluator'):
        cfg[name].ann_file = data_root + osp.relpath(cfg[name].ann_file, cfg.data_root)
    model.train_cfg.rpn_proposal.update(nms_pre=200, max_per_img=100)
    model.train_cfg.rcnn.sampler.num = 64
    model.test_cfg.rpn.update(nms_pre=200, max_per_img=100)
    cfg.data_root = data_root
    cfg.optim_wrapper.type = 'OptimWrapper'
    cfg.optim_wrapper.pop('loss_scale', None)
    cfg.train_cfg.update(max_iters=max_iters, val_interval=max_iters)
    cfg.default_hooks.checkpoint.interval = max_iters
    cfg.default_hooks.logger.interval = 1
    cfg.env_cfg.dist_cfg = ConfigDict(backend='gloo')
    return cfg
