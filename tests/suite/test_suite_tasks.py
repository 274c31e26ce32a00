"""The suite's task adapters build the real recipe configs, pointed at the data root and the checkpoint."""
import pytest

from siameseim.benchmark import SuiteCheckpoint, SuiteContext
from siameseim.suite.tasks import build_tasks, task_names


def full_context(tmp_path):
    return SuiteContext(out_dir=str(tmp_path), data_root='/datasets', log=lambda line: None)


def test_lvis_recipe_reads_everything_from_the_data_root(tmp_path):
    (lvis, ) = build_tasks(['lvis'])
    cfg = lvis.config(SuiteCheckpoint('ours', '/ckpt/ours.pth', 'vit-b'), full_context(tmp_path))
    assert cfg.model.backbone.pretrained == '/ckpt/ours.pth'
    assert cfg.model.roi_head.bbox_head.loss_cls.image_count_file == '/datasets/lvis_v1/annotations/lvis_v1_train.json'
    assert cfg.test_evaluator.ann_file == '/datasets/lvis_v1/annotations/lvis_v1_val.json'
    assert cfg.train_dataloader.dataset.data_root == '/datasets/lvis_v1/'


def test_vit_l_checkpoints_get_the_vit_l_recipes(tmp_path):
    finetune, coco, ade20k = build_tasks(['finetune', 'coco', 'ade20k'])
    checkpoint = SuiteCheckpoint('large', None, 'vit-l')
    ctx = full_context(tmp_path)
    assert finetune.config(checkpoint, ctx).model.backbone.arch == 'large'
    assert coco.config(checkpoint, ctx).model.backbone.arch == 'large'
    assert ade20k.config(checkpoint, ctx).model.backbone.arch == 'large'
    (linear, ) = build_tasks(['linear'])
    with pytest.raises(ValueError, match='no linear config for arch vit-l'):
        linear.config(checkpoint, ctx)


def test_task_names_and_order():
    names = ('finetune', 'linear', 'knn', 'fewshot', 'coco', 'lvis', 'ade20k', 'robustness')
    assert task_names() == names
    assert [task.name for task in build_tasks(list(reversed(names)))] == list(names)
    with pytest.raises(ValueError, match='unknown task.*segm'):
        build_tasks(['segm'])


def test_seeded_metrics_are_averaged_with_their_runs():
    from siameseim.benchmark import aggregate, task_seeds
    metrics, runs = aggregate([{'top1': 10.0, 'top5': 50.0}, {'top1': 20.0}])
    assert metrics == {'top1': 15.0} and runs == {'top1': [10.0, 20.0]}
    assert aggregate([{'top1': 10.0}]) == ({'top1': 10.0}, {})
    ctx = SuiteContext(out_dir='.', data_root='.', extra={'seeds': {'linear': [0, 1, 2]}})
    assert task_seeds(ctx, 'linear') == [0, 1, 2] and task_seeds(ctx, 'coco') == [None]
