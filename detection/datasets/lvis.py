"""mmdet's ``LVISV1Dataset`` with the dataset file validated when it is loaded."""
import copy
import logging
from typing import List

from lvis import LVIS
from mmengine.fileio import get_local_path
from mmdet.datasets import LVISV1Dataset
from mmdet.registry import DATASETS

from .checks import DatasetFileError, check_image_files, check_instances, load_instances_json


class CheckedLVIS(LVIS):
    """The lvis API over a file that passed :func:`check_instances` (LVIS rules)."""

    def __init__(self, annotation_path: str) -> None:
        data = load_instances_json(annotation_path)
        check_instances(data, annotation_path, lvis=True)
        self.logger = logging.getLogger(__name__)
        self.dataset = data
        self._create_index()


@DATASETS.register_module()
class CheckedLVISV1Dataset(LVISV1Dataset):
    """``LVISV1Dataset`` that fails early with one clear line on a bad annotation file or a missing image.

    Image paths come from each image's ``coco_url`` (``train2017/…`` or ``val2017/…``), so ``data_prefix.img``
    is ``''`` under a root holding both folders (docs/protocols.md §2.5).

    Args:
        check_images: check that every image file exists when the dataset is built (on by default).
        **kwargs: as mmdet's ``LVISV1Dataset``; give ``metainfo=dict(classes=...)`` for a non-v1 category set.
    """

    def __init__(self, *args, check_images: bool = True, **kwargs) -> None:
        self.check_images = check_images
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        with get_local_path(self.ann_file, backend_args=self.backend_args) as local_path:
            api = CheckedLVIS(local_path)
        self.cat_ids = api.get_cat_ids()
        classes = self.metainfo['classes']
        if len(self.cat_ids) != len(classes):
            raise DatasetFileError(f'{self.ann_file} has {len(self.cat_ids)} categories but the dataset has '
                                   f'{len(classes)} class names: give metainfo=dict(classes=...) matching the file')
        self.cat2label = {cat_id: i for i, cat_id in enumerate(self.cat_ids)}
        self.cat_img_map = copy.deepcopy(api.cat_img_map)
        data_list = []
        for img_id in api.get_img_ids():
            raw_img_info = dict(api.load_imgs([img_id])[0], img_id=img_id)
            raw_img_info['file_name'] = '/'.join(raw_img_info['coco_url'].rsplit('/', 2)[-2:])
            raw_ann_info = api.load_anns(api.get_ann_ids(img_ids=[img_id]))
            data_list.append(self.parse_data_info(dict(raw_ann_info=raw_ann_info, raw_img_info=raw_img_info)))
        if self.check_images:
            check_image_files(data_list, self.ann_file)
        return data_list
