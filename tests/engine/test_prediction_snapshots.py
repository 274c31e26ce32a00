"""tools/test.py --show-dir: the first test images drawn by mmdet's and mmseg's own visualizers, bounded."""
import os.path as osp
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData, PixelData
from PIL import Image

from siameseim.prediction_snapshots import PredictionSnapshotHook

from checkout import REPO_ROOT

ROOT = REPO_ROOT
from siameseim.cli import test as test_tool


def _images(tmp_path, count, size=(48, 64)):
    paths = []
    for index in range(count):
        path = tmp_path / f'img{index}.jpg'
        Image.fromarray(np.full((*size, 3), 40 * index, np.uint8)).save(path)
        paths.append(str(path))
    return paths


def _run(visualizer, samples, out_dir, max_images):
    hook = PredictionSnapshotHook(str(out_dir), max_images=max_images)
    runner = SimpleNamespace(visualizer=visualizer)
    hook.before_test(runner)
    hook.after_test_iter(runner, 0, outputs=samples[:2])
    hook.after_test_iter(runner, 1, outputs=samples[2:])
    return sorted(path.name for path in out_dir.iterdir())


def test_segmentation_predictions_are_drawn_next_to_the_ground_truth(tmp_path):
    from mmseg.structures import SegDataSample
    from mmseg.visualization import SegLocalVisualizer

    visualizer = SegLocalVisualizer(name='snapshots_seg', vis_backends=[dict(type='LocalVisBackend')],
                                    save_dir=str(tmp_path / 'vis'))
    visualizer.dataset_meta = dict(classes=('wall', 'sky'), palette=[[120, 120, 120], [0, 0, 255]])
    samples = []
    for path in _images(tmp_path, 3):
        sample = SegDataSample(metainfo=dict(img_path=path))
        sample.gt_sem_seg = PixelData(data=torch.zeros(1, 48, 64, dtype=torch.long))
        sample.pred_sem_seg = PixelData(data=torch.ones(1, 48, 64, dtype=torch.long))
        samples.append(sample)
    assert _run(visualizer, samples, tmp_path / 'show', max_images=2) == ['img0.png', 'img1.png']
    drawn = Image.open(tmp_path / 'show' / 'img0.png')
    assert drawn.size == (128, 48)  # ground truth | prediction
    left, right = np.asarray(drawn)[:, :64], np.asarray(drawn)[:, 64:]
    assert not np.array_equal(left, right)  # wall (grey) on the left, sky (blue) on the right


def test_detection_predictions_are_drawn_with_their_boxes(tmp_path):
    from mmdet.structures import DetDataSample
    from mmdet.visualization import DetLocalVisualizer

    visualizer = DetLocalVisualizer(name='snapshots_det', vis_backends=[dict(type='LocalVisBackend')],
                                    save_dir=str(tmp_path / 'vis'))
    visualizer.dataset_meta = dict(classes=('cat', 'dog'), palette=[(220, 20, 60), (0, 255, 0)])
    samples = []
    for path in _images(tmp_path, 3):
        sample = DetDataSample(metainfo=dict(img_path=path))
        sample.gt_instances = InstanceData(bboxes=torch.tensor([[5., 5., 30., 30.]]), labels=torch.tensor([0]))
        sample.pred_instances = InstanceData(bboxes=torch.tensor([[10., 8., 50., 40.]]), labels=torch.tensor([1]),
                                             scores=torch.tensor([0.9]))
        samples.append(sample)
    assert _run(visualizer, samples, tmp_path / 'show', max_images=3) == ['img0.png', 'img1.png', 'img2.png']
    drawn = np.asarray(Image.open(tmp_path / 'show' / 'img1.png').convert('RGB'))
    assert drawn.shape == (48, 128, 3)
    plain = np.full((48, 64, 3), 40, np.uint8)
    assert (np.abs(drawn[:, 64:].astype(int) - plain).sum(-1) > 60).sum() > 50  # the predicted box is drawn


def test_max_images_must_be_positive():
    with pytest.raises(ValueError, match='at least 1'):
        PredictionSnapshotHook('out', max_images=0)


def test_show_dir_needs_a_visualizer_and_a_positive_bound(tmp_path, capsys):
    config = osp.join(ROOT, 'robustness', 'configs', 'vit-tiny_ft-4e_toy.py')
    weights = tmp_path / 'w.pth'
    weights.write_bytes(b'x')
    assert test_tool.main([config, str(weights), '--show-dir', str(tmp_path / 'show')]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --show-dir draws with the config's visualizer") and err.count('\n') == 1
    seg = osp.join(ROOT, 'segmentation', 'configs', 'upernet_vit-tiny_ade20k-64x64_toy.py')
    assert test_tool.main([seg, str(weights), '--show-dir', str(tmp_path / 'show'), '--show-max', '0']) == 2
    assert capsys.readouterr().err == 'error: --show-max must be at least 1, got 0\n'
    assert not (tmp_path / 'show').exists()


@pytest.mark.slow
def test_test_tool_saves_the_bounded_snapshots_of_a_segmentation_run(tmp_path):
    from siameseim.segmentation.toy import make_ade20k_toy

    from siameseim.cli import train as train_tool
    data_root = str(tmp_path / 'ade')
    make_ade20k_toy(data_root, num_train=2, num_val=3)
    config = osp.join(ROOT, 'segmentation', 'configs', 'upernet_vit-tiny_ade20k-64x64_toy.py')
    options = ['--cfg-options', *(f'{loader}.dataset.data_root={data_root}' for loader in
                                  ('train_dataloader', 'val_dataloader', 'test_dataloader')),
               'train_cfg.max_iters=2', 'train_cfg.val_interval=2', 'default_hooks.checkpoint.interval=2',
               'param_scheduler.0.end=1', 'param_scheduler.1.begin=1', 'param_scheduler.1.end=2']
    work_dir = str(tmp_path / 'work')
    assert train_tool.main([config, '--work-dir', work_dir, *options]) == 0
    show = tmp_path / 'show'
    assert test_tool.main([config, osp.join(work_dir, 'iter_2.pth'), '--work-dir', work_dir, '--show-dir',
                           str(show), '--show-max', '2', *options]) == 0
    names = sorted(path.name for path in show.iterdir())
    assert len(names) == 2 and all(name.endswith('.png') for name in names)
    assert Image.open(show / names[0]).size[0] == 2 * Image.open(
        osp.join(data_root, 'images', 'validation', names[0].replace('.png', '.jpg'))).size[0]
