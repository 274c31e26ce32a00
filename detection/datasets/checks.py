"""Validation of COCO / LVIS instance files: one clear line naming the file, the record and the fix.

mmdet reports a malformed record as a bare ``KeyError`` deep inside the COCO API, and a missing image only
when the data loader reaches it (hours into a run); these checks run once when the dataset is built.
"""
import json
import math
import os.path as osp
from typing import Any, Dict, List, Sequence

LVIS_FREQUENCIES = ('r', 'c', 'f')


class DatasetFileError(ValueError):
    """An annotation file or the image tree it points to is not usable."""


def load_instances_json(path: str, display_name: str = '') -> Dict[str, Any]:
    """Parse a COCO / LVIS json, naming the file when it is missing or not JSON."""
    name = display_name or path
    if not osp.isfile(path):
        raise FileNotFoundError(f'annotation file {name} does not exist: check data_root and ann_file '
                                f'(layout: data/coco/annotations/instances_val2017.json, '
                                f'data/lvis_v1/annotations/lvis_v1_val.json)')
    with open(path) as f:
        try:
            data = json.load(f)
        except ValueError as err:
            raise DatasetFileError(f'annotation file {name} is not valid JSON ({err}): re-download or '
                                   f'regenerate it') from None
    return data


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _segmentation_problem(segm: Any) -> str:
    """Why ``segm`` is not a polygon list or an RLE dict ('' when it is fine)."""
    if isinstance(segm, dict):
        if 'counts' not in segm or not (isinstance(segm.get('size'), list) and len(segm['size']) == 2):
            return 'an RLE segmentation needs "counts" and "size": [height, width]'
        return ''
    if not isinstance(segm, list):
        return f'segmentation must be a list of polygons or an RLE dict, got {type(segm).__name__}'
    for polygon in segm:
        if not isinstance(polygon, list) or len(polygon) < 6 or len(polygon) % 2:
            return 'every polygon must be a flat list [x1, y1, x2, y2, ...] of at least 3 points'
    return ''


def check_instances(data: Any, ann_file: str, lvis: bool = False) -> None:
    """Raise :class:`DatasetFileError` at the first malformed image, category or annotation record.

    Checks the structure the COCO / LVIS APIs and mmdet rely on: unique ids, annotations that point at a
    known image and category, ``bbox = [x, y, w, h]`` with finite numbers and ``w, h >= 0``, and well-formed
    polygon / RLE segmentations. For LVIS also ``coco_url`` on images and ``frequency`` in r/c/f on categories.
    """
    if not isinstance(data, dict):
        raise DatasetFileError(f'{ann_file} is not a COCO/LVIS instances file: the top level must be an object')
    for key in ('images', 'annotations', 'categories'):
        if not isinstance(data.get(key), list):
            raise DatasetFileError(f"{ann_file} is not a COCO/LVIS instances file: no '{key}' list")
    image_ids = set()
    name_key = 'coco_url' if lvis else 'file_name'
    for index, image in enumerate(data['images']):
        image_id = image.get('id') if isinstance(image, dict) else None
        if image_id is None or image_id in image_ids:
            raise DatasetFileError(f'{ann_file}: image record #{index} has a missing or duplicate id ({image_id!r})')
        if not isinstance(image.get(name_key), str):
            raise DatasetFileError(f"{ann_file}: image id {image_id} has no '{name_key}' string")
        if not all(isinstance(image.get(key), int) and image[key] > 0 for key in ('height', 'width')):
            raise DatasetFileError(f'{ann_file}: image id {image_id} needs positive integer height and width')
        image_ids.add(image_id)
    category_ids = set()
    for index, category in enumerate(data['categories']):
        category_id = category.get('id') if isinstance(category, dict) else None
        if category_id is None or category_id in category_ids:
            raise DatasetFileError(f'{ann_file}: category record #{index} has a missing or duplicate id '
                                   f'({category_id!r})')
        if lvis and category.get('frequency') not in LVIS_FREQUENCIES:
            raise DatasetFileError(f"{ann_file}: category id {category_id} has frequency "
                                   f"{category.get('frequency')!r}; LVIS needs one of {LVIS_FREQUENCIES}")
        category_ids.add(category_id)
    ann_ids = set()
    for index, ann in enumerate(data['annotations']):
        ann_id = ann.get('id') if isinstance(ann, dict) else None
        if ann_id is None or ann_id in ann_ids:
            raise DatasetFileError(f'{ann_file}: annotation record #{index} has a missing or duplicate id '
                                   f'({ann_id!r})')
        ann_ids.add(ann_id)
        where = f'{ann_file}: annotation id {ann_id}'
        if ann.get('image_id') not in image_ids:
            raise DatasetFileError(f"{where} refers to image id {ann.get('image_id')!r}, which is not in 'images'")
        if ann.get('category_id') not in category_ids:
            raise DatasetFileError(f"{where} refers to category id {ann.get('category_id')!r}, "
                                   f"which is not in 'categories'")
        bbox = ann.get('bbox')
        if not (isinstance(bbox, list) and len(bbox) == 4 and all(map(_is_number, bbox))
                and bbox[2] >= 0 and bbox[3] >= 0):
            raise DatasetFileError(f'{where} has a malformed bbox {bbox!r}: expected [x, y, width, height] '
                                   f'with finite numbers and width, height >= 0')
        if 'segmentation' in ann:
            problem = _segmentation_problem(ann['segmentation'])
            if problem:
                raise DatasetFileError(f'{where} has a malformed segmentation: {problem}')


def check_image_files(data_list: Sequence[Dict[str, Any]], ann_file: str) -> None:
    """Raise ``FileNotFoundError`` naming the first image of ``data_list`` that is not on disk."""
    missing: List[Dict[str, Any]] = [info for info in data_list if not osp.isfile(info['img_path'])]
    if missing:
        first = missing[0]
        raise FileNotFoundError(
            f"image file {first['img_path']} (image id {first['img_id']} of {ann_file}) does not exist, "
            f'{len(missing)} of {len(data_list)} images are missing: check data_root and data_prefix, or set '
            f'check_images=False to skip this check')
