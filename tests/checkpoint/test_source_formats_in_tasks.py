"""Every new checkpoint format through the suite's tasks at demo size: each task's backbone (its demo config)
adapts to the checkpoint and loads it strictly, k-NN runs on every format, and linear probing and ADE20k
segmentation run on the formats whose architecture differs most from the recipes' (patch 14 with registers and
LayerScale; no cls token)."""
import os.path as osp

import pytest
import source_checkpoints
from source_checkpoints import clip_openai, dino, dinov2, hf, ijepa, openclip

from siameseim.benchmark import DEMO_BACKBONE, ConfigTask, SuiteCheckpoint, SuiteContext, backbone_load_summary
from siameseim.suite.tasks import build_tasks
from siameseim.suite.toy_data import ToyWorldSizes, make_toy_world

pytestmark = pytest.mark.slow

SIZES = ToyWorldSizes(train_per_class=4, val_per_class=2, ood_per_class=1, corrupted_per_class=1,
                      fewshot_per_class=1, fewshot_seeds=1, detection_train=8, detection_val=4, ade_train=4,
                      ade_val=2)
BUILDERS = {
    'dino': lambda d: dino(d, patch_size=16),
    'ibot': lambda d: dino(d, ibot=True, patch_size=16),
    'dinov2-registers': lambda d: dinov2(d, registers=True),
    'clip-openai': clip_openai,
    'openclip': openclip,
    'ijepa': lambda d: ijepa(d, patch_size=16),
    'hf-vit': lambda d: hf(d, 'vit'),
    'hf-vit-mae': lambda d: hf(d, 'vit_mae'),
    'hf-dinov2-registers': lambda d: hf(d, 'dinov2_reg'),
    'hf-beit': lambda d: hf(d, 'beit'),
    'hf-data2vec-vision': lambda d: hf(d, 'data2vec'),
}


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('toy'))
    return make_toy_world(root, SIZES, log=lambda line: None)


@pytest.fixture(scope='module')
def sources(tmp_path_factory):
    """One checkpoint per format at the demo backbone's width, depth and heads."""
    folder = str(tmp_path_factory.mktemp('sources'))
    with pytest.MonkeyPatch.context() as patch:
        for name in ('WIDTH', 'DEPTH', 'HEADS'):
            patch.setattr(source_checkpoints, name, DEMO_BACKBONE[{'WIDTH': 'embed_dim', 'DEPTH': 'depth',
                                                                  'HEADS': 'num_heads'}[name]])
        return {name: build(folder) for name, build in BUILDERS.items()}


def context(world, out_dir) -> SuiteContext:
    return SuiteContext(out_dir=str(out_dir), data_root=world['root'], profile='demo',
                        extra=dict(quiet=True, subset_files=world['subset_files'], segmentation_iters=2,
                                   detection_iters=2))


def assert_loaded_strictly(summary, name):
    assert summary['loaded'] > 0 and summary['unexplained_missing'] == 0 and summary['unexpected'] == 0, name


@pytest.mark.parametrize('name', list(BUILDERS))
def test_every_task_backbone_loads_the_format(name, sources, world, tmp_path):
    from siameseim.robustness.benchmark_tasks import _feature_load_summary

    source = sources[name]
    checkpoint = SuiteCheckpoint(name, source.path)
    ctx = context(world, tmp_path)
    for task in build_tasks(['finetune', 'linear', 'coco', 'lvis', 'ade20k']):
        assert isinstance(task, ConfigTask)
        summary = backbone_load_summary(task.config(checkpoint, ctx).model.backbone, source.path)
        assert summary['format'] == source.format
        assert_loaded_strictly(summary, f'{name} in {task.name}')
    assert_loaded_strictly(_feature_load_summary(checkpoint, ctx), f'{name} in knn / fewshot')


@pytest.mark.parametrize('name', list(BUILDERS))
def test_knn_runs_on_every_format(name, sources, world, tmp_path):
    task, = build_tasks(['knn'])
    result = task.run(SuiteCheckpoint(name, sources[name].path), str(tmp_path), context(world, tmp_path), {})
    assert 0 <= result.metrics['top1'] <= 100
    assert_loaded_strictly(result.load_report, name)


@pytest.mark.parametrize('name, tasks', [('dinov2-registers', ['ade20k']), ('ijepa', ['linear'])])
def test_trained_tasks_run(name, tasks, sources, world, tmp_path):
    for task in build_tasks(tasks):
        work_dir = tmp_path / task.name
        work_dir.mkdir()
        result = task.run(SuiteCheckpoint(name, sources[name].path), str(work_dir), context(world, tmp_path), {})
        assert all(value is None or isinstance(value, (int, float, str)) for value in result.metrics.values())
        assert_loaded_strictly(result.load_report, f'{name} in {task.name}')
        assert osp.isfile(result.configs[0])


def test_bench_takes_a_transformers_folder_and_records_its_provenance(sources, tmp_path):
    from siameseim.suite.provenance import checkpoint_provenance, file_sha256
    from siameseim.suite.runner import parse_checkpoint_args

    folder = sources['hf-dinov2-registers'].path
    checkpoint, = parse_checkpoint_args([f'dinov2={folder}'], 'vit-b')
    assert checkpoint.path == folder
    provenance = checkpoint_provenance(folder, str(tmp_path))
    assert provenance['format'] == 'hf-dinov2' and provenance['detected_arch']['patch_size'] == 14
    assert provenance['sha256'] == file_sha256(folder) == file_sha256(folder, str(tmp_path))
