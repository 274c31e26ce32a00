"""End to end on a generated ADE20k-layout toy set: train on the CPU with auto-resume, then single-scale
slide and multi-scale + flip evaluation through tools/train.py and tools/test.py."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from siameseim.segmentation.toy import make_ade20k_toy

from test_segmentation_config import CONFIG_DIR

from siameseim.cli import test as test_tool
from siameseim.cli import train as train_tool

TINY = osp.join(CONFIG_DIR, 'upernet_vit-tiny_ade20k-64x64_toy.py')
TINY_MS = osp.join(CONFIG_DIR, 'upernet_vit-tiny_ade20k-64x64_toy-ms.py')


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp('ade')
    data_root = str(root / 'ade')
    make_ade20k_toy(data_root, num_train=4, num_val=2)
    work_dir = str(root / 'work')
    options = ['--cfg-options', f'train_dataloader.dataset.data_root={data_root}',
               f'val_dataloader.dataset.data_root={data_root}', f'test_dataloader.dataset.data_root={data_root}',
               'train_cfg.max_iters=3', 'train_cfg.val_interval=3', 'default_hooks.checkpoint.interval=3',
               'param_scheduler.0.end=1', 'param_scheduler.1.begin=1', 'param_scheduler.1.end=3']
    assert train_tool.main([TINY, '--work-dir', work_dir, *options]) == 0
    return data_root, work_dir, options


def test_training_runs_and_resumes(trained):
    data_root, work_dir, options = trained
    assert osp.isfile(osp.join(work_dir, 'iter_3.pth'))
    more = [option.replace('max_iters=3', 'max_iters=4') for option in options]
    assert train_tool.main([TINY, '--work-dir', work_dir, *more]) == 0
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        assert f.read().strip().endswith('iter_4.pth')


def evaluate(config, trained, tmp_path, extra=()):
    data_root, work_dir, _ = trained
    out = str(tmp_path / 'metrics.json')
    assert test_tool.main([config, osp.join(work_dir, 'iter_3.pth'), '--work-dir', str(tmp_path), '--out', out,
                           '--cfg-options', f'test_dataloader.dataset.data_root={data_root}', *extra]) == 0
    with open(out) as f:
        return json.load(f)


def check_metrics(metrics):
    assert {'aAcc', 'mIoU', 'mAcc', 'IoU.wall', 'IoU.flag'} <= set(metrics)
    assert 0 <= metrics['mIoU'] <= 100 and 0 <= metrics['aAcc'] <= 100
    assert len([key for key in metrics if key.startswith('IoU.')]) == 150


def independent_scores(config, checkpoint, data_root):
    """aAcc and mIoU (percent) of ``checkpoint`` on the toy val set, from mmseg's ``inference_model`` and a
    confusion count written here: PNG value 0 is ignored and value k is class k − 1 (ADE20k's
    ``reduce_zero_label``); mIoU averages the classes that occur in the ground truth or the prediction."""
    from mmengine.registry import DefaultScope
    from mmseg.apis import inference_model, init_model

    with DefaultScope.overwrite_default_scope('mmseg'):
        model = init_model(config, checkpoint, device='cpu')
        image_dir = osp.join(data_root, 'images', 'validation')
        names = sorted(os.listdir(image_dir))
        assert len(names) == 2
        intersection, predicted, labelled = np.zeros(150), np.zeros(150), np.zeros(150)
        for name in names:
            prediction = inference_model(model, osp.join(image_dir, name)).pred_sem_seg.data[0].numpy()
            label = np.asarray(Image.open(osp.join(data_root, 'annotations', 'validation', name[:-4] + '.png')))
            valid = label > 0
            truth, guess = label[valid].astype(int) - 1, prediction[valid]
            np.add.at(labelled, truth, 1)
            np.add.at(predicted, guess, 1)
            np.add.at(intersection, truth[truth == guess], 1)
    union = predicted + labelled - intersection
    present = union > 0
    return 100 * intersection.sum() / labelled.sum(), 100 * np.mean(intersection[present] / union[present])


def test_single_scale_slide_evaluation(trained, tmp_path):
    metrics = evaluate(TINY, trained, tmp_path)
    check_metrics(metrics)
    data_root, work_dir, _ = trained
    accuracy, mean_iou = independent_scores(TINY, osp.join(work_dir, 'iter_3.pth'), data_root)
    assert metrics['aAcc'] == pytest.approx(accuracy, abs=0.01)
    assert metrics['mIoU'] == pytest.approx(mean_iou, abs=0.01)


@pytest.mark.slow
def test_multi_scale_flip_evaluation(trained, tmp_path):
    metrics = evaluate(TINY_MS, trained, tmp_path)
    check_metrics(metrics)
    assert metrics != evaluate(TINY, trained, tmp_path / 'single')
