"""ADE20k (SceneParsing ``ADEChallengeData2016``) with its file layout checked when the dataset is built.

mmseg's ``ADE20KDataset`` pairs every image with ``annotations/<split>/<stem>.png`` without looking at the
disk, so a missing annotation surfaces as a ``FileNotFoundError`` inside a data-loader worker hours into a
run. This subclass checks the layout of downstream.md §6 up front and fails with one line naming the file.
"""
import os.path as osp
from typing import List, Sequence

from mmseg.datasets import ADE20KDataset
from mmseg.registry import DATASETS


def check_annotations(data_list: Sequence[dict], img_dir: str, ann_dir: str) -> None:
    """Raise ``FileNotFoundError`` naming the first image whose annotation PNG is missing (and the count)."""
    if not data_list:
        raise FileNotFoundError(f'no images ending in .jpg under {img_dir}: expected the ADE20k layout '
                                f'<data_root>/images/{{training,validation}}/*.jpg (downstream.md §6)')
    missing = [info['seg_map_path'] for info in data_list if not osp.isfile(info['seg_map_path'])]
    if missing:
        others = f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''
        raise FileNotFoundError(f'annotation {missing[0]}{others} missing under {ann_dir}: every image needs '
                                f'annotations/<split>/<name>.png next to images/<split>/<name>.jpg')


@DATASETS.register_module()
class CheckedADE20KDataset(ADE20KDataset):
    """mmseg's ``ADE20KDataset`` (150 classes, ``reduce_zero_label``) that verifies its files on load.

    Raises ``FileNotFoundError`` with one line when ``data_root``, the image folder or any annotation PNG is
    missing. Test sets without annotations pass ``seg_map_path=None`` (no check, nothing to evaluate).
    """

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
                                        f'<data_root>/annotations/<split>/*.png (downstream.md §6)')
            check_annotations(data_list, img_dir, ann_dir)
        return data_list
