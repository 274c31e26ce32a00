"""COCO (mmdet CocoMetric) and LVIS (LVISEvalMetric) evaluation: AP 1 for perfect predictions, and the same
numbers as pycocotools / the lvis API called directly on the same predictions."""
import copy
import os.path as osp

import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from lvis import LVIS, LVISEval, LVISResults
from mmdet.evaluation import CocoMetric
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from siameseim.errors import InputError
from siameseim.detection.metrics import CheckedCocoMetric, LVISEvalMetric
from siameseim.detection.toy import COCO_CATEGORIES, LVIS_CATEGORIES, make_toy_coco, make_toy_lvis



def predictions(api, cat_ids, perfect, seed=0):
    """One mmdet data sample per image: GT boxes/masks (perfect) or jittered ones plus a false positive."""
    rng = np.random.default_rng(seed)
    samples = []
    for image_id in sorted(api.getImgIds() if hasattr(api, 'getImgIds') else api.get_img_ids()):
        anns = api.loadAnns(api.getAnnIds(imgIds=[image_id])) if hasattr(api, 'getAnnIds') else \
            api.load_anns(api.get_ann_ids(img_ids=[image_id]))
        image = (api.loadImgs if hasattr(api, 'loadImgs') else api.load_imgs)([image_id])[0]
        boxes, labels, masks = [], [], []
        for ann in anns:
            x, y, w, h = ann['bbox']
            mask = api.annToMask(ann) if hasattr(api, 'annToMask') else api.ann_to_mask(ann)
            if not perfect:
                dx, dy = rng.integers(-3, 4, size=2)
                x, y = x + dx, y + dy
                mask = np.roll(mask, (dy, dx), axis=(0, 1))
            boxes.append([x, y, x + w, y + h])
            labels.append(cat_ids.index(ann['category_id']))
            masks.append(mask.astype(bool))
        if not perfect:
            boxes.append([0, 0, 20, 20])
            labels.append(0)
            masks.append(np.zeros((image['height'], image['width']), bool))
            masks[-1][:20, :20] = True
        scores = np.ones(len(boxes)) if perfect else rng.uniform(0.1, 1.0, len(boxes))
        pred = dict(bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), scores=torch.tensor(scores),
                    labels=torch.tensor(labels, dtype=torch.long), masks=torch.from_numpy(np.stack(masks)))
        samples.append(dict(img_id=image_id, ori_shape=(image['height'], image['width']), pred_instances=pred))
    return samples


def as_results(samples, cat_ids):
    bbox, segm = [], []
    for sample in samples:
        pred = sample['pred_instances']
        for box, score, label, mask in zip(pred['bboxes'].tolist(), pred['scores'].tolist(), pred['labels'].tolist(),
                                           pred['masks'].numpy()):
            common = dict(image_id=sample['img_id'], category_id=cat_ids[label], score=score)
            bbox.append(dict(common, bbox=[box[0], box[1], box[2] - box[0], box[3] - box[1]]))
            rle = mask_util.encode(np.asfortranarray(mask[:, :, None].astype(np.uint8)))[0]
            rle['counts'] = rle['counts'].decode()
            segm.append(dict(common, segmentation=rle))
    return bbox, segm


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    return make_toy_coco(str(tmp_path_factory.mktemp('data')))


@pytest.fixture(scope='module')
def lvis_root(tmp_path_factory):
    """Val ground truth of all three frequency groups, so APr, APc and APf are all real values."""
    return make_toy_lvis(str(tmp_path_factory.mktemp('data')), rare_in_val=True)


@pytest.fixture(scope='module')
def lvis_root_without_rare_val(tmp_path_factory):
    return make_toy_lvis(str(tmp_path_factory.mktemp('data')))


def run_coco_metric(ann_file, samples):
    metric = CocoMetric(ann_file=ann_file, metric=['bbox', 'segm'])
    metric.dataset_meta = dict(classes=[c['name'] for c in COCO_CATEGORIES])
    metric.process({}, samples)
    return metric.evaluate(len(samples))


@pytest.mark.parametrize('perfect', [True, False])
def test_coco_metric_matches_pycocotools(coco_root, perfect):
    ann_file = osp.join(coco_root, 'annotations/instances_val2017.json')
    gt = COCO(ann_file)
    cat_ids = [c['id'] for c in COCO_CATEGORIES]
    samples = predictions(gt, cat_ids, perfect)
    metrics = run_coco_metric(ann_file, samples)
    for iou_type, results in zip(('bbox', 'segm'), as_results(samples, cat_ids)):
        evaluator = COCOeval(gt, gt.loadRes(results), iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
        assert metrics[f'coco/{iou_type}_mAP'] == pytest.approx(round(evaluator.stats[0], 3), abs=1e-3)
        if perfect:
            assert metrics[f'coco/{iou_type}_mAP'] == 1.0
        else:
            assert 0 < metrics[f'coco/{iou_type}_mAP'] < 1


def run_lvis_metric(ann_file, samples):
    metric = LVISEvalMetric(ann_file=ann_file)
    metric.dataset_meta = dict(classes=[c['name'] for c in LVIS_CATEGORIES])
    metric.process({}, samples)
    return metric.evaluate(len(samples))


@pytest.mark.parametrize('perfect', [True, False])
def test_lvis_metric_matches_lvis_api(lvis_root, perfect):
    ann_file = osp.join(lvis_root, 'annotations/lvis_v1_val.json')
    gt = LVIS(ann_file)
    cat_ids = gt.get_cat_ids()
    samples = predictions(gt, cat_ids, perfect)
    metrics = run_lvis_metric(ann_file, samples)
    for iou_type, results in zip(('bbox', 'segm'), as_results(samples, cat_ids)):
        evaluator = LVISEval(gt, LVISResults(gt, copy.deepcopy(results), max_dets=300), iou_type)
        evaluator.run()
        expected = evaluator.get_results()
        for key in ('AP', 'AP50', 'AP75', 'APr', 'APc', 'APf'):
            assert metrics[f'lvis/{iou_type}_{key}'] == pytest.approx(expected[key], abs=1e-9), key
        groups = [metrics[f'lvis/{iou_type}_{key}'] for key in ('APr', 'APc', 'APf')]
        if perfect:
            assert metrics[f'lvis/{iou_type}_AP'] == 1.0 and groups == [1.0, 1.0, 1.0]
        else:
            assert 0 < metrics[f'lvis/{iou_type}_AP'] < 1
            assert all(0 <= value <= 1 for value in groups) and len(set(groups)) > 1


def test_lvis_metric_reports_a_group_without_val_ground_truth_as_minus_one(lvis_root_without_rare_val):
    ann_file = osp.join(lvis_root_without_rare_val, 'annotations/lvis_v1_val.json')
    gt = LVIS(ann_file)
    assert not any(gt.cats[ann['category_id']]['frequency'] == 'r' for ann in gt.anns.values())
    metrics = run_lvis_metric(ann_file, predictions(gt, gt.get_cat_ids(), perfect=True))
    assert metrics['lvis/bbox_APr'] == -1 and metrics['lvis/bbox_APc'] == metrics['lvis/bbox_APf'] == 1.0


def test_lvis_metric_caps_detections_per_image(lvis_root):
    ann_file = osp.join(lvis_root, 'annotations/lvis_v1_val.json')
    metric = LVISEvalMetric(ann_file=ann_file, max_dets=2)
    sample = predictions(LVIS(ann_file), LVIS(ann_file).get_cat_ids(), perfect=False)[0]
    metric.process({}, [sample])
    image_id, bbox, segm = metric.results[0]
    kept = sorted(sample['pred_instances']['scores'].tolist(), reverse=True)[:2]
    assert [det['score'] for det in bbox] == kept and len(segm) == 2 and 'bbox' not in segm[0]


def without_detections(samples):
    """The samples with every prediction removed (a model that detects nothing)."""
    empty = []
    for sample in samples:
        pred = sample['pred_instances']
        empty.append(dict(sample, pred_instances={key: value[:0] for key, value in pred.items()}))
    return empty


def run_checked_coco_metric(ann_file, samples):
    metric = CheckedCocoMetric(ann_file=ann_file, metric=['bbox', 'segm'])
    metric.dataset_meta = dict(classes=[c['name'] for c in COCO_CATEGORIES])
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def test_checked_coco_metric_equals_cocometric(coco_root):
    ann_file = osp.join(coco_root, 'annotations/instances_val2017.json')
    samples = predictions(COCO(ann_file), [c['id'] for c in COCO_CATEGORIES], perfect=False)
    assert run_checked_coco_metric(ann_file, copy.deepcopy(samples)) == run_coco_metric(ann_file, samples)


def test_coco_metric_without_detections_reports_pycocotools_values(coco_root):
    """pycocotools' loadRes fails on [], so the reference is COCOeval on a results object with no annotations."""
    ann_file = osp.join(coco_root, 'annotations/instances_val2017.json')
    gt = COCO(ann_file)
    samples = without_detections(predictions(gt, [c['id'] for c in COCO_CATEGORIES], perfect=True))
    metrics = run_checked_coco_metric(ann_file, samples)
    empty = COCO()
    empty.dataset = dict(images=gt.dataset['images'], categories=gt.dataset['categories'], annotations=[])
    empty.createIndex()
    for iou_type in ('bbox', 'segm'):
        evaluator = COCOeval(gt, empty, iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
        for index, key in enumerate(('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')):
            assert metrics[f'coco/{iou_type}_{key}'] == round(evaluator.stats[index], 3), key
        assert metrics[f'coco/{iou_type}_mAP'] == 0.0
    # The suite reads coco/bbox_mAP; a metric without the key (mmdet's CocoMetric here) crashed it.
    from siameseim.detection.benchmark_tasks import CocoTask, LvisTask
    assert CocoTask().metrics(metrics) == {'bbox_AP': 0.0, 'segm_AP': 0.0}
    with pytest.raises(RuntimeError, match='the evaluation wrote no coco/bbox_mAP .*CheckedCocoMetric'):
        CocoTask().metrics({})


def test_lvis_metric_without_detections_reports_minus_one_for_groups_without_gt(lvis_root_without_rare_val):
    ann_file = osp.join(lvis_root_without_rare_val, 'annotations/lvis_v1_val.json')
    gt = LVIS(ann_file)
    samples = without_detections(predictions(gt, gt.get_cat_ids(), perfect=True))
    metrics = run_lvis_metric(ann_file, samples)
    for iou_type in ('bbox', 'segm'):
        # The toy val set has ground truth for the common and frequent classes, none for the rare one.
        assert metrics[f'lvis/{iou_type}_APr'] == -1
        assert metrics[f'lvis/{iou_type}_AP'] == metrics[f'lvis/{iou_type}_APc'] == 0.0
        assert metrics[f'lvis/{iou_type}_APf'] == 0.0
    from siameseim.suite.table import to_markdown
    from siameseim.detection.benchmark_tasks import CocoTask, LvisTask
    suite_metrics = LvisTask().metrics(metrics)
    assert suite_metrics == {'bbox_AP': 0.0, 'segm_AP': 0.0}
    results = {'checkpoints': {'ckpt': {'tasks': {'lvis': {'status': 'done', 'metrics': suite_metrics}}}}}
    row = next(line for line in to_markdown(results, include_paper=False).splitlines() if line.startswith('| ckpt'))
    cells = [cell.strip() for cell in row.strip('|').split('|')]
    header = [cell.strip() for cell in to_markdown(results).splitlines()[0].strip('|').split('|')]
    assert cells[header.index('LVIS AP^box_r')] == '–' and cells[header.index('LVIS AP^box')] == '0.0'


@pytest.mark.parametrize('kind', ['coco', 'lvis'])
def test_label_past_the_categories_is_one_line(coco_root, lvis_root, kind):
    if kind == 'coco':
        ann_file = osp.join(coco_root, 'annotations/instances_val2017.json')
        samples = predictions(COCO(ann_file), [c['id'] for c in COCO_CATEGORIES], perfect=True)
    else:
        ann_file = osp.join(lvis_root, 'annotations/lvis_v1_val.json')
        samples = predictions(LVIS(ann_file), LVIS(ann_file).get_cat_ids(), perfect=True)
    samples[0]['pred_instances']['labels'][0] = 3
    with pytest.raises(InputError, match=r'predicted label 3 is past the 3 categories of .*val.*\.json: .*num_classes'):
        (run_checked_coco_metric if kind == 'coco' else run_lvis_metric)(ann_file, samples)
