"""LVIS v1 box and mask AP through the lvis API, with the rare/common/frequent breakdown (docs/protocols.md §2.4).

mmdet's ``LVISMetric`` keeps the predictions, dumps them to a json and reads that json back (two copies in
memory), and leaves the box in the mask results, so mask APs/APm/APl use box areas. Here each image's
predictions are converted once to the lvis result format, capped at ``max_dets``, and handed to the API as
lists; mask results carry no box, as in detectron2. With no detections at all (``LVISResults`` would index the
first one) an empty result set is evaluated, so groups with ground truth report 0 and groups without -1, as
the lvis API does; a predicted label past the file's categories fails in one line.
"""
from typing import Dict, List, Optional, Sequence

import numpy as np
import pycocotools.mask as mask_util
from lvis import LVIS, LVISEval, LVISResults
from mmengine.evaluator import BaseMetric
from mmengine.fileio import get_local_path
from mmengine.logging import print_log
from mmdet.registry import METRICS

from ..datasets.lvis import CheckedLVIS
from .coco_metric import check_labels

LVIS_KEYS = ('AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'APr', 'APc', 'APf')
IOU_TYPES = ('bbox', 'segm')


def empty_results(gt: LVIS) -> LVISResults:
    """The lvis results object of no detections: ``gt``'s images and categories without annotations."""
    results = LVISResults.__new__(LVISResults)
    results.logger = gt.logger
    results.dataset = dict(gt.dataset, annotations=[])
    results._create_index()
    return results


def encode_mask(mask: np.ndarray) -> dict:
    """Compressed RLE of a binary ``[H, W]`` mask, with ``counts`` as text (json-ready)."""
    rle = mask_util.encode(np.asfortranarray(mask[:, :, None].astype(np.uint8)))[0]
    rle['counts'] = rle['counts'].decode('utf-8')
    return rle


@METRICS.register_module()
class LVISEvalMetric(BaseMetric):
    """LVIS AP, AP50, AP75, APs/m/l and APr/APc/APf for boxes and masks (keys ``bbox_APr`` …, in [0, 1]).

    A group without ground truth in the evaluated images reports -1, as the lvis API does.

    Args:
        ann_file: LVIS v1 val json (categories carry ``frequency``).
        metric: ``'bbox'``, ``'segm'`` or both.
        max_dets: detections per image kept (300 for LVIS).
    """

    default_prefix: Optional[str] = 'lvis'

    def __init__(self,
                 ann_file: str,
                 metric: Sequence[str] = IOU_TYPES,
                 max_dets: int = 300,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 backend_args: Optional[dict] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.metrics = [metric] if isinstance(metric, str) else list(metric)
        unknown = [m for m in self.metrics if m not in IOU_TYPES]
        if unknown:
            raise ValueError(f'LVISEvalMetric metric {unknown} not supported: use {list(IOU_TYPES)}')
        self.max_dets = max_dets
        self.ann_file = ann_file
        with get_local_path(ann_file, backend_args=backend_args) as local_path:
            self.lvis_api = CheckedLVIS(local_path)
        self.cat_ids = self.lvis_api.get_cat_ids()

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Convert each image's predictions to lvis results (top ``max_dets`` by score) and keep only those."""
        for sample in data_samples:
            pred = sample['pred_instances']
            scores = pred['scores'].cpu().numpy()
            keep = np.argsort(-scores, kind='stable')[:self.max_dets]
            bboxes = pred['bboxes'].cpu().numpy()[keep]
            labels = pred['labels'].cpu().numpy()[keep]
            check_labels(labels, len(self.cat_ids), self.ann_file)
            scores = scores[keep]
            image_id = sample['img_id']
            bbox_results: List[dict] = []
            segm_results: List[dict] = []
            for i, (x1, y1, x2, y2) in enumerate(bboxes.tolist()):
                common = dict(image_id=image_id, category_id=self.cat_ids[int(labels[i])], score=float(scores[i]))
                if 'bbox' in self.metrics:
                    bbox_results.append(dict(common, bbox=[x1, y1, x2 - x1, y2 - y1]))
                if 'segm' in self.metrics:
                    mask = pred['masks'][keep[i]]
                    mask = mask.cpu().numpy() if hasattr(mask, 'cpu') else np.asarray(mask)
                    segm_results.append(dict(common, segmentation=encode_mask(mask)))
            self.results.append((image_id, bbox_results, segm_results))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Run ``LVISEval`` per IoU type on the collected lists, over the images that were processed."""
        metrics: Dict[str, float] = {}
        image_ids = sorted({image[0] for image in results})
        for iou_type in self.metrics:
            position = 1 + IOU_TYPES.index(iou_type)
            detections = [det for image in results for det in image[position]]
            if detections:
                lvis_dt = LVISResults(self.lvis_api, detections, max_dets=self.max_dets)
            else:
                print_log(f'LVISEvalMetric: no {iou_type} detections: AP 0 where there is ground truth, -1 where '
                          f'there is none', logger='current')
                lvis_dt = empty_results(self.lvis_api)
            lvis_eval = LVISEval(self.lvis_api, lvis_dt, iou_type)
            lvis_eval.params.img_ids = image_ids
            lvis_eval.run()
            lvis_eval.print_results()
            metrics.update({f'{iou_type}_{key}': float(value)
                            for key, value in lvis_eval.get_results().items() if key in LVIS_KEYS})
        return metrics
