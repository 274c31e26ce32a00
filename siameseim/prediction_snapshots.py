"""Draw the predictions of the first few test images with the task's own visualizer (mmdet's, mmseg's).

``tools/test.py --show-dir DIR`` adds this hook: the test loop keeps running as usual, and the first
``max_images`` images (the test dataloader does not shuffle, so the same images for every checkpoint) are
written to ``DIR`` as PNG, ground truth and prediction side by side, by the config's ``visualizer``
(``DetLocalVisualizer`` draws boxes and masks, ``SegLocalVisualizer`` the segmentation).
"""
import os
import os.path as osp
from typing import Optional, Sequence

import mmcv
from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from .registry import HOOKS


@HOOKS.register_module()
class PredictionSnapshotHook(Hook):
    """Save ``max_images`` drawn test predictions (rank 0's first images) to ``out_dir``."""

    priority = 'LOW'

    def __init__(self, out_dir: str, max_images: int = 4) -> None:
        if max_images < 1:
            raise ValueError(f'max_images must be at least 1, got {max_images}')
        self.out_dir = out_dir
        self.max_images = max_images
        self.saved = 0

    def before_test(self, runner) -> None:
        self.saved = 0
        if is_main_process():
            os.makedirs(self.out_dir, exist_ok=True)

    def after_test_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None,
                        outputs: Optional[Sequence] = None) -> None:
        if not is_main_process():
            return
        for sample in outputs or ():
            if self.saved >= self.max_images:
                return
            image = mmcv.imread(sample.img_path, channel_order='rgb')
            name = osp.splitext(osp.basename(sample.img_path))[0] + '.png'
            runner.visualizer.add_datasample(name, image, data_sample=sample, draw_gt=True, draw_pred=True,
                                             show=False, out_file=osp.join(self.out_dir, name))
            self.saved += 1
