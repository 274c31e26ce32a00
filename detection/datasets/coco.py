"""mmdet's ``CocoDataset`` with the dataset file validated when it is loaded."""
from typing import List

from mmdet.datasets import CocoDataset
from mmdet.datasets.api_wrappers import COCO
from mmdet.registry import DATASETS

from .checks import DatasetFileError, check_image_files, check_instances, load_instances_json


class CheckedCOCO(COCO):
    """mmdet's COCO API over a file that passed :func:`check_instances`."""

    def __init__(self, annotation_file: str) -> None:
        data = load_instances_json(annotation_file)
        check_instances(data, annotation_file)
        super().__init__(None)
        self.dataset = data
        self.createIndex()
        self.img_ann_map, self.cat_img_map = self.imgToAnns, self.catToImgs


@DATASETS.register_module()
class CheckedCocoDataset(CocoDataset):
    """``CocoDataset`` that fails early with one clear line on a bad annotation file or a missing image.

    Args:
        check_images: check that every image file exists when the dataset is built (on by default).
        **kwargs: as mmdet's ``CocoDataset``.
    """

    COCOAPI = CheckedCOCO

    def __init__(self, *args, check_images: bool = True, **kwargs) -> None:
        self.check_images = check_images
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        data_list = super().load_data_list()
        classes = self.metainfo['classes']
        if len(self.cat_ids) != len(classes):
            raise DatasetFileError(f'{self.ann_file} has categories for {len(self.cat_ids)} of the '
                                   f'{len(classes)} class names of the dataset: give metainfo=dict(classes=...) '
                                   f'with the category names of the file')
        if self.check_images:
            check_image_files(data_list, self.ann_file)
        return data_list
