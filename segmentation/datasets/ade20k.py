"""ADE20k (SceneParsing ``ADEChallengeData2016``) with its file layout checked when the dataset is built.

mmseg's ``ADE20KDataset`` pairs every image with ``annotations/<split>/<stem>.png`` without looking at the
disk, so a missing annotation surfaces as a ``FileNotFoundError`` inside a data-loader worker hours into a
run. This subclass checks the layout of docs/protocols.md §6 up front and fails with one line naming the file;
a label value past the classes (which the loss would report as a bare ``IndexError: Target 199 is out of
bounds``, or a CUDA assert) fails when the sample is loaded, naming the annotation file.
"""
import os.path as osp
from typing import Any, List, Sequence

import torch
from mmseg.datasets import ADE20KDataset
from mmseg.registry import DATASETS

from siameseim.errors import InputError


def check_annotations(data_list: Sequence[dict], img_dir: str, ann_dir: str) -> None:
    """Raise ``FileNotFoundError`` naming the first image whose annotation PNG is missing (and the count)."""
    if not data_list:
        raise FileNotFoundError(f'no images ending in .jpg under {img_dir}: expected the ADE20k layout '
                                f'<data_root>/images/{{training,validation}}/*.jpg (see docs/data.md)')
    missing = [info['seg_map_path'] for info in data_list if not osp.isfile(info['seg_map_path'])]
    if missing:
        others = f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''
        raise FileNotFoundError(f'annotation {missing[0]}{others} missing under {ann_dir}: every image needs '
                                f'annotations/<split>/<name>.png next to images/<split>/<name>.jpg')


def check_labels(labels: torch.Tensor, num_classes: int, ignore_index: int, reduce_zero_label: bool,
                 seg_map_path: str) -> None:
    """Raise :class:`InputError` naming ``seg_map_path`` when a label is neither a class nor ``ignore_index``."""
    bad = labels[(labels != ignore_index) & ((labels < 0) | (labels >= num_classes))]
    if bad.numel():
        value = int(bad.max()) + int(reduce_zero_label)  # the value stored in the PNG
        valid = f'0-{num_classes} (0 = unlabelled)' if reduce_zero_label else f'0-{num_classes - 1}'
        raise InputError(f'annotation {seg_map_path} holds label {value}, past the {num_classes} classes (valid '
                         f'values {valid}, {ignore_index} = ignore): fix or remove the file')


def _seg_samples(data: Any) -> List[Any]:
    """The data samples of a packed item (one, or a list for test-time augmentation)."""
    samples = data.get('data_samples') if isinstance(data, dict) else None
    return list(samples) if isinstance(samples, (list, tuple)) else [samples]


@DATASETS.register_module()
class CheckedADE20KDataset(ADE20KDataset):
    """mmseg's ``ADE20KDataset`` (150 classes, ``reduce_zero_label``) that verifies its files on load.

    Raises ``FileNotFoundError`` with one line when ``data_root``, the image folder or any annotation PNG is
    missing, and :class:`InputError` naming the PNG when a loaded sample holds a label past the classes. Test
    sets without annotations pass ``seg_map_path=None`` (no check, nothing to evaluate).
    """

    def prepare_data(self, idx: int) -> Any:
        """The pipeline's output for sample ``idx``, after checking the labels of its ground truth."""
        data = super().prepare_data(idx)
        for sample in _seg_samples(data):
            seg = getattr(sample, 'gt_sem_seg', None)
            if seg is not None:
                check_labels(seg.data, len(self.metainfo['classes']), self.ignore_index, self.reduce_zero_label,
                             self.get_data_info(idx)['seg_map_path'])
        return data

    def load_data_list(self) -> List[dict]:
        img_dir = self.data_prefix.get('img_path')
        ann_dir = self.data_prefix.get('seg_map_path')
        if not self.ann_file and not osp.isdir(img_dir):
            raise FileNotFoundError(f'image folder {img_dir} does not exist: set data_root to the folder holding '
                                    f'images/ and annotations/ (default data/ade/ADEChallengeData2016)')
        data_list = super().load_data_list()
        if ann_dir is not None:
            if not osp.isdir(ann_dir):
                raise FileNotFoundError(f'annotation folder {ann_dir} does not exist: expected '
                                        f'<data_root>/annotations/<split>/*.png (see docs/data.md)')
            check_annotations(data_list, img_dir, ann_dir)
        return data_list
