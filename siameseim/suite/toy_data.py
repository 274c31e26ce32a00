"""Every data set of the demo, written from one :class:`~siameseim.suite.toy_world.ToyWorld` in the real layouts.

:func:`make_toy_world` writes, under one root (the OpenMMLab ``data/`` layout of docs/data.md):

* ``imagenet/{train,val}/<wnid>/`` — object images, one shape class per real ImageNet wnid;
* ``imagenet-a``, ``imagenet-r``, ``sketch`` — the same classes as harder, stylised and line-drawing renderings;
* ``imagenet-c/<corruption>/<severity>/<wnid>/`` — the project's ImageNet-C corruptions of val images;
* ``coco`` and ``lvis_v1`` — scenes with polygon instance masks; LVIS with its rare / common / frequent groups
  set from the training image counts by the LVIS v1 rule (rare: 1-10 images, common: 11-100, frequent: > 100);
* ``ade/ADEChallengeData2016`` — scenes with two "stuff" regions and shape objects as semantic label maps;
* ``imagenet/1percent_seed<k>.txt`` — few-shot subsets (SimCLR's ``<wnid>_<n>.JPEG`` list format), one per seed.
"""
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

from ..atomic import write_text_atomically
from .toy_world import SHAPES, ToyWorld, texture

# COCO keeps gaps in its category ids; the toy set does too, so no code can assume contiguous ids.
COCO_IDS = (1, 2, 3, 5, 7, 9, 11, 13, 15, 17)
# LVIS v1 frequency groups by number of training images (Gupta et al., 2019).
RARE_MAX_IMAGES, COMMON_MAX_IMAGES = 10, 100
# Image counts per LVIS category in a 200-image split (scaled to other sizes): two frequent, four common, four rare.
LVIS_TRAIN_IMAGES = (150, 120, 60, 40, 25, 15, 8, 6, 4, 3)
LVIS_TRAIN_IMAGES_TOTAL = 200
# ADE20k PNG values: wall and floor for the two stuff regions, then one value per shape class.
ADE_STUFF = (1, 4)
ADE_OBJECTS = tuple(range(20, 20 + len(SHAPES)))


@dataclass(frozen=True)
class ToyWorldSizes:
    """How many images each set gets (classification counts are per class)."""
    train_per_class: int = 100
    val_per_class: int = 50
    ood_per_class: int = 50
    corrupted_per_class: int = 10
    fewshot_per_class: int = 5
    fewshot_seeds: int = 3
    detection_train: int = 200
    detection_val: int = 100
    ade_train: int = 200
    ade_val: int = 100
    image_size: int = 72
    scene_size: Tuple[int, int] = (96, 128)


def lvis_frequency(image_count: int) -> str:
    """``'r'``, ``'c'`` or ``'f'`` by the LVIS v1 rule on the number of training images of a category."""
    return 'r' if image_count <= RARE_MAX_IMAGES else 'c' if image_count <= COMMON_MAX_IMAGES else 'f'


def _save(image: Image.Image, path: str) -> None:
    image.save(path, quality=95)


def write_classification(root: str, world: ToyWorld, wnids: Sequence[str], sizes: ToyWorldSizes,
                         rng: np.random.Generator) -> None:
    """ImageNet train/val, -A, -R and -Sketch folders (JPEG, one wnid folder per shape class)."""
    sets = (('imagenet/train', 'photo', sizes.train_per_class, '.JPEG'),
            ('imagenet/val', 'photo', sizes.val_per_class, '.JPEG'),
            ('imagenet-a', 'adversarial', sizes.ood_per_class, '.jpg'),
            ('imagenet-r', 'rendition', sizes.ood_per_class, '.jpg'),
            ('sketch', 'sketch', sizes.ood_per_class, '.JPEG'))
    for folder, style, count, ext in sets:
        for label, wnid in enumerate(wnids):
            target = osp.join(root, folder, wnid)
            os.makedirs(target, exist_ok=True)
            for index in range(count):
                _save(world.object_image(label, sizes.image_size, rng, style), osp.join(target, f'{wnid}_{index}{ext}'))


def write_corruptions(root: str, wnids: Sequence[str], per_class: int, seed: int) -> None:
    """``imagenet-c`` from the first ``per_class`` val images of each class, through the project's corruptions."""
    from siameseim.robustness.imagenet_c.corruptions import corrupt
    from siameseim.robustness.imagenet_c.generate import image_seed
    from siameseim.robustness.metrics.mce import CORRUPTIONS, SEVERITIES

    for wnid in wnids:
        for index in range(per_class):
            name = f'{wnid}_{index}.JPEG'
            image = np.asarray(Image.open(osp.join(root, 'imagenet', 'val', wnid, name)).convert('RGB'))
            for corruption in CORRUPTIONS:
                for severity in SEVERITIES:
                    target = osp.join(root, 'imagenet-c', corruption, str(severity), wnid)
                    os.makedirs(target, exist_ok=True)
                    rng = np.random.RandomState(image_seed(seed, corruption, severity, f'{wnid}/{name}'))
                    Image.fromarray(corrupt(image, corruption, severity, rng)).save(osp.join(target, name), quality=85)
    with open(osp.join(root, 'imagenet-a', 'README.txt'), 'w') as f:
        f.write('toy-world ImageNet-A: harder renderings (small, low contrast, distractors, occluded)\n')


def write_fewshot_lists(root: str, wnids: Sequence[str], sizes: ToyWorldSizes, seed: int) -> List[str]:
    """One few-shot list per seed, ``fewshot_per_class`` random training images of each class."""
    paths = []
    for index in range(sizes.fewshot_seeds):
        rng = np.random.default_rng(seed + 1000 + index)
        names = [f'{wnid}_{n}.JPEG' for wnid in wnids
                 for n in sorted(rng.choice(sizes.train_per_class, sizes.fewshot_per_class, replace=False))]
        path = osp.join(root, 'imagenet', f'1percent_seed{index}.txt')
        with open(path, 'w') as f:
            f.write('\n'.join(names) + '\n')
        paths.append(path)
    return paths


def _scene_labels(count: int, num_classes: int, rng: np.random.Generator) -> List[List[int]]:
    """1-4 uniformly drawn classes per image."""
    return [list(rng.integers(num_classes, size=int(rng.integers(1, 5)))) for _ in range(count)]


def _lvis_labels(count: int, train_images: Sequence[int], rng: np.random.Generator) -> List[List[int]]:
    """Per image, the categories it shows, so that category ``c`` is in about ``train_images[c]`` images
    (scaled to ``count``); at most six per image, an empty image gets the most frequent category."""
    scale = count / LVIS_TRAIN_IMAGES_TOTAL
    labels: List[List[int]] = [[] for _ in range(count)]
    for category, images in enumerate(train_images):
        for image in rng.choice(count, max(2, round(images * scale)), replace=False):
            if len(labels[image]) < 6:
                labels[image].append(category)
    for image_labels in labels:
        if not image_labels:
            image_labels.append(0)
    return labels



def write_instances(folder: str, world: ToyWorld, labels: Sequence[Sequence[int]], first_image_id: int,
                    size: Tuple[int, int], rng: np.random.Generator) -> Tuple[List[dict], List[dict]]:
    """Scenes into ``folder``; COCO image records (``file_name``) and annotations (class index as category)."""
    os.makedirs(folder, exist_ok=True)
    images, annotations = [], []
    for offset, image_labels in enumerate(labels):
        image_id = first_image_id + offset
        canvas, placed = world.scene(size, rng, image_labels)
        file_name = f'{image_id:012d}.jpg'
        _save(canvas, osp.join(folder, file_name))
        images.append(dict(id=image_id, file_name=file_name, height=size[0], width=size[1]))
        for obj in placed:
            annotations.append(dict(image_id=image_id, category_id=obj.label, bbox=obj.bbox(), area=obj.area(),
                                    segmentation=[obj.polygon], iscrowd=0))
    return images, annotations


def _number(annotations: List[dict], category_ids: Sequence[int]) -> List[dict]:
    for index, annotation in enumerate(annotations, 1):
        annotation.update(id=index, category_id=category_ids[annotation['category_id']])
    return annotations


def write_coco(root: str, world: ToyWorld, sizes: ToyWorldSizes, rng: np.random.Generator) -> None:
    """``coco/{train2017,val2017}`` and ``coco/annotations/instances_{train,val}2017.json``."""
    categories = [dict(id=COCO_IDS[label], name=name, supercategory='shape') for label, name in enumerate(SHAPES)]
    os.makedirs(osp.join(root, 'coco', 'annotations'), exist_ok=True)
    for split, count, first in (('train2017', sizes.detection_train, 1),
                                ('val2017', sizes.detection_val, 100_001)):
        images, annotations = write_instances(osp.join(root, 'coco', split), world,
                                              _scene_labels(count, world.num_classes, rng), first, sizes.scene_size,
                                              rng)
        write_text_atomically(osp.join(root, 'coco', 'annotations', f'instances_{split}.json'), json.dumps(
            dict(images=images, annotations=_number(annotations, COCO_IDS), categories=categories)))


def write_lvis(root: str, world: ToyWorld, sizes: ToyWorldSizes, rng: np.random.Generator) -> None:
    """``lvis_v1/{train2017,val2017}`` and ``lvis_v1/annotations/lvis_v1_{train,val}.json`` (v1 fields)."""
    lvis = osp.join(root, 'lvis_v1')
    os.makedirs(osp.join(lvis, 'annotations'), exist_ok=True)
    ids = tuple(range(1, len(SHAPES) + 1))
    splits = {}
    for split, count, first in (('train', sizes.detection_train, 1), ('val', sizes.detection_val, 100_001)):
        images, annotations = write_instances(osp.join(lvis, f'{split}2017'), world,
                                              _lvis_labels(count, LVIS_TRAIN_IMAGES, rng), first, sizes.scene_size,
                                              rng)
        annotations = _number(annotations, ids)
        for image in images:
            present = {ann['category_id'] for ann in annotations if ann['image_id'] == image['id']}
            absent = sorted(set(ids) - present)
            image['coco_url'] = f"http://images.cocodataset.org/{split}2017/{image.pop('file_name')}"
            image['neg_category_ids'] = [int(i) for i in rng.choice(absent, min(2, len(absent)), replace=False)]
            image['not_exhaustive_category_ids'] = sorted(present)[:1] if image['id'] % 5 == 0 else []
        splits[split] = dict(images=images, annotations=annotations)
    train = splits['train']['annotations']
    categories = []
    for label, name in enumerate(SHAPES):
        own = [ann for ann in train if ann['category_id'] == ids[label]]
        image_count = len({ann['image_id'] for ann in own})
        categories.append(dict(id=ids[label], name=name, synset=f'{name}.n.01', synonyms=[name], **{'def': name},
                               image_count=image_count, instance_count=len(own),
                               frequency=lvis_frequency(image_count)))
    for split, content in splits.items():
        write_text_atomically(osp.join(lvis, 'annotations', f'lvis_v1_{split}.json'),
                              json.dumps(dict(content, categories=categories, info={}, licenses=[])))


def ade_pair(world: ToyWorld, size: Tuple[int, int], rng: np.random.Generator) -> Tuple[Image.Image, Image.Image]:
    """One ADE20k-style pair: a scene over a wall/floor split and its PNG label map (uint8 class values)."""
    height, width = size
    horizon = int(rng.integers(height // 3, 2 * height // 3))
    background = texture(rng, size)
    background[horizon:] = texture(rng, (height - horizon, width))
    labels = np.full(size, ADE_STUFF[0], np.uint8)
    labels[horizon:] = ADE_STUFF[1]
    canvas, placed = world.scene(size, rng, list(rng.integers(world.num_classes, size=int(rng.integers(1, 5)))),
                                 background)
    annotation = Image.fromarray(labels)
    draw = ImageDraw.Draw(annotation)
    for obj in placed:
        draw.polygon(obj.polygon, fill=ADE_OBJECTS[obj.label])
    return canvas, annotation


def write_ade20k(root: str, world: ToyWorld, sizes: ToyWorldSizes, rng: np.random.Generator) -> None:
    """``ade/ADEChallengeData2016/{images,annotations}/{training,validation}`` (JPEG images, PNG maps)."""
    base = osp.join(root, 'ade', 'ADEChallengeData2016')
    for split, count, tag in (('training', sizes.ade_train, 'train'), ('validation', sizes.ade_val, 'val')):
        os.makedirs(osp.join(base, 'images', split), exist_ok=True)
        os.makedirs(osp.join(base, 'annotations', split), exist_ok=True)
        for index in range(count):
            image, annotation = ade_pair(world, (sizes.scene_size[0] * 2 // 3, sizes.scene_size[1] * 2 // 3), rng)
            name = f'ADE_{tag}_{index:08d}'
            _save(image, osp.join(base, 'images', split, f'{name}.jpg'))
            annotation.save(osp.join(base, 'annotations', split, f'{name}.png'))


def make_toy_world(root: str, sizes: ToyWorldSizes = ToyWorldSizes(), seed: int = 0,
                   log: Callable[[str], None] = print) -> Dict[str, object]:
    """Write every set under ``root``; returns ``{'root', 'wnids', 'subset_files'}``."""
    from siameseim.robustness.toy import toy_wnids

    world = ToyWorld()
    wnids = list(toy_wnids(world.num_classes))
    rng = np.random.default_rng(seed)
    log(f'[demo] toy world: {world.num_classes} shape classes, ImageNet {sizes.train_per_class}/'
        f'{sizes.val_per_class} per class (+A/R/Sketch {sizes.ood_per_class}, -C {sizes.corrupted_per_class} x 75)')
    write_classification(root, world, wnids, sizes, rng)
    write_corruptions(root, wnids, sizes.corrupted_per_class, seed)
    subset_files = write_fewshot_lists(root, wnids, sizes, seed)
    log(f'[demo] toy world: COCO and LVIS v1 {sizes.detection_train}/{sizes.detection_val}, '
        f'ADE20k {sizes.ade_train}/{sizes.ade_val} images')
    write_coco(root, world, sizes, rng)
    write_lvis(root, world, sizes, rng)
    write_ade20k(root, world, sizes, rng)
    return dict(root=root, wnids=wnids, subset_files=subset_files)
