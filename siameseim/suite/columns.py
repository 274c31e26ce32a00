"""The columns of the paper's comparison table and its reference rows (SiameseIM README, ViT-B/16).

Each column reads one metric of one task from a suite's ``results.json``; metrics are percentages.
"""
from typing import Dict, NamedTuple, Optional, Tuple


class Column(NamedTuple):
    """A table column: its header, the task that produces it and the metric key in that task's results."""
    header: str
    task: str
    metric: str


COLUMNS: Tuple[Column, ...] = (
    Column('FT', 'finetune', 'top1'),
    Column('LIN', 'linear', 'top1'),
    Column('k-NN', 'knn', 'top1'),
    Column('1%', 'fewshot', 'top1'),
    Column('COCO AP^box', 'coco', 'bbox_AP'),
    Column('COCO AP^mask', 'coco', 'segm_AP'),
    Column('ADE20k mIoU', 'ade20k', 'mIoU'),
    Column('LVIS AP^box', 'lvis', 'bbox_AP'),
    Column('LVIS AP^box_r', 'lvis', 'bbox_APr'),
    Column('LVIS AP^mask', 'lvis', 'segm_AP'),
    Column('LVIS AP^mask_r', 'lvis', 'segm_APr'),
    Column('IN-A', 'robustness', 'imagenet_a_top1'),
    Column('IN-R', 'robustness', 'imagenet_r_top1'),
    Column('IN-Sketch', 'robustness', 'imagenet_sketch_top1'),
    Column('1 − mCE', 'robustness', 'one_minus_mce'),
)

TASKS: Tuple[str, ...] = tuple(dict.fromkeys(column.task for column in COLUMNS))

# docs/method.md §5.5 / docs/protocols.md §5, in COLUMNS order; "1 − mCE" is the paper's 100 − mCE convention. The
# paper reports no k-NN accuracy (None).
_PAPER_VALUES = {
    'MoCo-v3': (83.0, 76.7, None, 63.4, 47.9, 42.7, 47.3, 37.3, 25.5, 35.3, 25.8, 32.4, 49.8, 35.9, 55.4),
    'MAE': (83.6, 68.0, None, 51.1, 51.6, 45.9, 48.1, 40.1, 29.3, 38.1, 29.1, 35.9, 48.3, 34.5, 48.3),
    'SiameseIM': (84.1, 78.0, None, 65.1, 52.1, 46.2, 51.1, 40.5, 30.9, 38.1, 30.1, 43.8, 52.5, 38.3, 57.1),
}
PAPER_ROWS: Dict[str, Dict[str, Optional[float]]] = {
    name: dict(zip((column.header for column in COLUMNS), values)) for name, values in _PAPER_VALUES.items()
}
