"""COCO box and mask AP through mmdet's ``CocoMetric``, with pycocotools' answer for the two cases it mishandles.

* No detections at all: pycocotools' ``loadRes`` indexes the first result and mmdet's ``CocoMetric`` then
  stops without any metric (so ``coco/bbox_mAP`` is absent). Here an empty result set is evaluated as
  ``COCOeval`` evaluates one: AP 0 where there is ground truth, -1 where there is none.
* A predicted label past the annotation file's categories (a head built for another dataset): one line naming
  the label and the file instead of a bare ``IndexError``.
"""
import copy
from typing import Optional, Sequence

import numpy as np
from mmdet.datasets.api_wrappers import COCO
from mmdet.evaluation import CocoMetric
from mmdet.registry import METRICS
from mmengine.fileio import get_local_path

from siameseim.errors import InputError

from ..datasets.coco import CheckedCOCO


class EvalCOCO(CheckedCOCO):
    """The checked COCO API whose ``loadRes`` also accepts an empty result list (no detections)."""

    def loadRes(self, resFile):  # noqa: N802,N803  (pycocotools' names)
        """pycocotools' results object; for ``[]`` the images and categories of this file with no annotations."""
        if isinstance(resFile, list) and not resFile:
            empty = COCO()
            empty.dataset = dict(images=list(self.dataset['images']), annotations=[],
                                 categories=copy.deepcopy(self.dataset['categories']))
            empty.createIndex()
            return empty
        return super().loadRes(resFile)


def check_labels(labels: np.ndarray, num_classes: int, ann_file: str) -> None:
    """Raise :class:`InputError` when a predicted label has no category in ``ann_file``."""
    bad = labels[(labels < 0) | (labels >= num_classes)]
    if bad.size:
        raise InputError(f'predicted label {int(bad[0])} is past the {num_classes} categories of {ann_file}: '
                         f'the model predicts more classes than the annotation file has; set the heads\' '
                         f'num_classes to {num_classes} or evaluate on the annotation file the model was trained for')


@METRICS.register_module()
class CheckedCocoMetric(CocoMetric):
    """mmdet's ``CocoMetric`` (same arguments and keys) that matches pycocotools with no detections and
    names a predicted label past the file's categories in one line.

    Args:
        ann_file: COCO instances json (validated like the dataset file).
        **kwargs: as mmdet's ``CocoMetric`` (``sort_categories`` is not supported).
    """

    def __init__(self, ann_file: Optional[str] = None, backend_args: Optional[dict] = None, **kwargs) -> None:
        if kwargs.pop('sort_categories', False):
            raise InputError('CheckedCocoMetric does not support sort_categories=True: use mmdet\'s CocoMetric')
        super().__init__(ann_file=None, backend_args=backend_args, **kwargs)
        self.ann_file = ann_file
        if ann_file is not None:
            with get_local_path(ann_file, backend_args=backend_args) as local_path:
                self._coco_api = EvalCOCO(local_path)

    def results2json(self, results: Sequence[dict], outfile_prefix: str) -> dict:
        """mmdet's conversion, after checking every label against the categories."""
        for result in results:
            check_labels(np.asarray(result['labels']), len(self.cat_ids), self.ann_file or 'the ground truth')
        return super().results2json(results, outfile_prefix)
