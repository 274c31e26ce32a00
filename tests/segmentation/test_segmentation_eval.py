"""ADE20k evaluation pieces: the mIoU oracle, full-window sliding inference, the TTA resize rule and the
dataset's layout check."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, MODELS

import siameseim.segmentation  # noqa: F401  (registers into mmseg)
from siameseim.segmentation.evaluation import ClassIoUMetric
from siameseim.segmentation.models import ViTEncoderDecoder, slide_windows
from siameseim.segmentation.toy import make_ade20k_toy
from siameseim.segmentation.transforms import MinShortSideResize

from test_segmentation_config import load_config, tiny_model_cfg

CLASSES = tuple(f'class{i}' for i in range(5))


def run_metric(pairs, per_class=True):
    metric = ClassIoUMetric(per_class=per_class)
    metric.dataset_meta = dict(classes=CLASSES)
    for pred, label in pairs:
        sample = dict(pred_sem_seg=dict(data=torch.as_tensor(pred)[None]),
                      gt_sem_seg=dict(data=torch.as_tensor(label)[None]))
        metric.process({}, [sample])
    return metric.evaluate(len(pairs))


def confusion_miou(pairs, num_classes, ignore_index=255):
    """Reference: one confusion matrix over all images, IoU = diag / (row + col - diag), NaN-mean."""
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    for pred, label in pairs:
        valid = label != ignore_index
        np.add.at(confusion, (label[valid], pred[valid]), 1)
    diag = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - diag
    iou = np.full(num_classes, np.nan)
    iou[union > 0] = diag[union > 0] / union[union > 0]
    acc = np.full(num_classes, np.nan)
    rows = confusion.sum(1)
    acc[rows > 0] = diag[rows > 0] / rows[rows > 0]
    return np.nanmean(iou) * 100, np.nanmean(acc) * 100, diag.sum() / confusion.sum() * 100, iou * 100


def random_pairs(seed=0, count=3):
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(count):
        label = rng.integers(0, 4, (13, 17))  # class 4 never occurs
        label[rng.random(label.shape) < 0.2] = 255
        pred = np.where(rng.random(label.shape) < 0.6, label, rng.integers(0, 4, label.shape))
        pred[pred == 255] = 0
        pairs.append((pred, label))
    return pairs


def test_perfect_predictions_give_100_miou():
    pairs = [(np.where(label == 255, 0, label), label) for _, label in random_pairs()]
    metrics = run_metric(pairs)
    assert metrics['mIoU'] == pytest.approx(100.0)
    assert metrics['mAcc'] == pytest.approx(100.0)
    assert metrics['aAcc'] == pytest.approx(100.0)
    assert np.isnan(metrics['IoU.class4'])


def test_miou_equals_a_dataset_level_confusion_matrix():
    pairs = random_pairs(seed=1)
    miou, macc, aacc, iou = confusion_miou(pairs, len(CLASSES))
    metrics = run_metric(pairs)
    assert metrics['mIoU'] == pytest.approx(miou, abs=1e-9)
    assert metrics['mAcc'] == pytest.approx(macc, abs=1e-9)
    assert metrics['aAcc'] == pytest.approx(aacc, abs=1e-9)
    for name, value in zip(CLASSES[:4], iou[:4]):
        assert metrics[f'IoU.{name}'] == pytest.approx(value, abs=1e-9)
    # accumulated over the set, not averaged per image
    per_image = np.mean([confusion_miou([pair], len(CLASSES))[0] for pair in pairs])
    assert abs(per_image - miou) > 1e-3


def test_metric_rejects_labels_outside_the_classes():
    label = np.full((4, 4), 7)
    with pytest.raises(ValueError, match='outside 0..4.*reduce_zero_label'):
        run_metric([(np.zeros((4, 4), dtype=np.int64), label)])


@pytest.mark.parametrize('length,expected', [(512, [(0, 512)]), (300, [(0, 300)]),
                                             (683, [(0, 512), (171, 683)]),
                                             (1200, [(0, 512), (341, 853), (682, 1194), (688, 1200)])])
def test_slide_windows_follow_the_spec_count_and_end_flush(length, expected):
    windows = slide_windows(length, 512, 341)
    assert windows == expected
    if length > 512:
        assert len(windows) == -(-(length - 512) // 341) + 1


class RecordingSegmentor:
    """Stands in for ``encode_decode``: records window shapes, returns logits = the input's first channel."""

    def __init__(self, num_classes):
        self.shapes = []
        self.num_classes = num_classes

    def __call__(self, window, metas):
        self.shapes.append(tuple(window.shape[2:]))
        assert tuple(metas[0]['img_shape']) == tuple(window.shape[2:])
        return window[:, :1].expand(-1, self.num_classes, -1, -1).clone()


def test_slide_inference_pads_short_windows_to_the_crop():
    init_default_scope('mmseg')
    model = MODELS.build(tiny_model_cfg())
    assert isinstance(model, ViTEncoderDecoder)
    recorder = RecordingSegmentor(model.out_channels)
    model.encode_decode = recorder
    inputs = torch.randn(1, 3, 40, 300)  # aspect ratio > 4: shorter than the 64 crop
    logits = model.slide_inference(inputs, [dict(ori_shape=(40, 300))])
    assert set(recorder.shapes) == {(64, 64)}
    assert len(recorder.shapes) == len(slide_windows(300, 64, 43))
    torch.testing.assert_close(logits[:, 0], inputs[:, 0])


def test_slide_inference_runs_the_tiny_backbone_on_any_image_size():
    init_default_scope('mmseg')
    model = MODELS.build(tiny_model_cfg()).eval()
    with torch.no_grad():
        logits = model.slide_inference(torch.randn(1, 3, 40, 150), [dict(ori_shape=(40, 150))])
    assert logits.shape == (1, 150, 40, 150)
    assert torch.isfinite(logits).all()


def test_crop_that_does_not_match_the_backbone_is_refused():
    init_default_scope('mmseg')
    cfg = tiny_model_cfg()
    cfg.test_cfg.crop_size = (96, 96)
    with pytest.raises(ValueError, match=r'crop_size \(96, 96\) differs from the backbone img_size \(64, 64\)'):
        MODELS.build(cfg)


@pytest.mark.parametrize('shape,ratio,expected', [((375, 500), 0.5, (512, 683)), ((375, 500), 1.0, (512, 683)),
                                                  ((375, 500), 1.75, (896, 1195)), ((600, 400), 0.75, (768, 512)),
                                                  ((100, 1000), 1.0, (512, 5120))])
def test_tta_resize_keeps_the_short_side_at_least_the_crop(shape, ratio, expected):
    resize = MinShortSideResize(scale=(2048, 512), ratio=ratio, min_short=512)
    results = resize(dict(img=np.zeros((*shape, 3), dtype=np.uint8)))
    assert results['img'].shape[:2] == expected
    assert results['img_shape'] == expected


def test_tta_pipeline_of_the_real_config_uses_the_min_short_side_rule():
    cfg = load_config('upernet_vit-b_160k_ade20k-512x512-ms.py')
    assert cfg.model.type == 'SegTTAModel' and cfg.model.module.type == 'ViTEncoderDecoder'
    aug = cfg.test_dataloader.dataset.pipeline[1]
    resizes = aug['transforms'][0]
    assert [t['ratio'] for t in resizes] == [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
    assert all(t['type'] == 'MinShortSideResize' and t['min_short'] == 512 for t in resizes)
    assert [t['prob'] for t in aug['transforms'][1]] == [0.0, 1.0]


def test_missing_annotation_names_the_file(tmp_path):
    make_ade20k_toy(str(tmp_path), num_train=3, num_val=2)
    missing = osp.join(str(tmp_path), 'annotations', 'validation', 'ADE_val_00000001.png')
    os.remove(missing)
    cfg = load_config('upernet_vit-tiny_ade20k-64x64_toy.py').val_dataloader.dataset
    cfg.data_root = str(tmp_path)
    init_default_scope('mmseg')
    with pytest.raises(FileNotFoundError, match='annotation .*ADE_val_00000001.png missing'):
        DATASETS.build(cfg)


def test_wrong_data_root_says_where_to_point_it(tmp_path):
    cfg = load_config('upernet_vit-tiny_ade20k-64x64_toy.py').val_dataloader.dataset
    cfg.data_root = str(tmp_path / 'nowhere')
    init_default_scope('mmseg')
    with pytest.raises(FileNotFoundError, match='image folder .*nowhere.*does not exist: set data_root'):
        DATASETS.build(cfg)


def test_toy_set_loads_with_150_classes_and_reduced_labels(tmp_path):
    make_ade20k_toy(str(tmp_path), num_train=2, num_val=2)
    cfg = load_config('upernet_vit-tiny_ade20k-64x64_toy.py').val_dataloader.dataset
    cfg.data_root = str(tmp_path)
    init_default_scope('mmseg')
    dataset = DATASETS.build(cfg)
    assert len(dataset) == 2 and len(dataset.metainfo['classes']) == 150
    label = dataset[0]['data_samples'].gt_sem_seg.data
    values = set(label.unique().tolist())
    assert values <= {0, 1, 2, 4, 7, 12, 149, 255}
