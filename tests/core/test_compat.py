"""siameseim.compat: mmengine resume under weights-only torch.load, and LVISEval on numpy 2."""
import copy
import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

import siameseim  # noqa: F401  (applies siameseim.compat)
from siameseim import compat
from siameseim.detection import lvis_numpy  # (importing the detection task applies the lvis fix)

from checkout import REPO_ROOT

mmengine_runner = pytest.importorskip('mmengine.runner')
from mmengine.hooks import Hook  # noqa: E402
from mmengine.logging import HistoryBuffer  # noqa: E402
from mmengine.model import BaseModel  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402




def _run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter, where ``siameseim.compat`` is not applied unless imported."""
    return subprocess.run([sys.executable, '-c', code, *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300)


# --- mmengine checkpoints ----------------------------------------------------------------------------------

class ToyRegressor(BaseModel):
    """The smallest mmengine model: one linear layer fitted with an MSE loss."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, targets=None, mode='tensor'):
        outputs = self.linear(inputs).squeeze(-1)
        if mode == 'loss':
            return dict(loss=((outputs - targets) ** 2).mean())
        return outputs


class ToyPoints(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, index):
        return dict(inputs=torch.tensor([index / 8, 1.0]), targets=torch.tensor(index / 4))


class RecordStartHook(Hook):
    """Records the iteration, weights and optimizer state that training (re)starts from."""

    def before_train(self, runner):
        self.iter = runner.iter
        self.model_state = copy.deepcopy(runner.model.state_dict())
        self.optimizer_state = copy.deepcopy(runner.optim_wrapper.optimizer.state_dict())


def _make_runner(work_dir, name: str, max_iters: int, resume: bool, hooks=()):
    return mmengine_runner.Runner(
        model=ToyRegressor(),
        work_dir=str(work_dir),
        experiment_name=name,
        train_dataloader=dict(
            dataset=ToyPoints(),
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate'),
            batch_size=2,
            num_workers=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False)),
        custom_hooks=list(hooks),
        resume=resume,
        randomness=dict(seed=0),
        log_level='WARNING',
        default_scope='mmengine')


@pytest.fixture(scope='module', autouse=True)
def restore_default_scope():
    """A Runner makes its default scope ('mmengine') the process's current one, which would send later
    ``Registry.build`` calls in other tests to mmengine's registries; put back what was current before."""
    saved = DefaultScope._instance_dict.copy()
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(saved)


@pytest.fixture(scope='module')
def trained_work_dir(tmp_path_factory):
    """A work dir holding the checkpoints of 4 training iterations (iter_2.pth, iter_4.pth)."""
    work_dir = tmp_path_factory.mktemp('mmengine_run')
    _make_runner(work_dir, 'compat_first_run', max_iters=4, resume=False).train()
    assert (work_dir / 'iter_4.pth').is_file()
    return work_dir


def test_plain_weights_only_load_refuses_mmengine_checkpoint(trained_work_dir):
    """The problem: without the allow-list, torch's weights-only loading rejects what mmengine stores."""
    result = _run_python('import sys, torch; torch.load(sys.argv[1], weights_only=True)',
                         str(trained_work_dir / 'iter_4.pth'))
    assert result.returncode != 0
    assert 'Unsupported global' in result.stderr


def test_weights_only_load_reads_message_hub(trained_work_dir):
    checkpoint = torch.load(trained_work_dir / 'iter_4.pth', weights_only=True)
    loss = checkpoint['message_hub']['log_scalars']['train/loss']
    assert isinstance(loss, HistoryBuffer)
    assert len(loss.data[0]) == 4
    assert np.isfinite(loss.mean())
    assert isinstance(checkpoint['message_hub']['runtime_info']['eta'], np.floating)


def test_resume_restores_iteration_weights_and_optimizer(trained_work_dir):
    start = RecordStartHook()
    runner = _make_runner(trained_work_dir, 'compat_resumed_run', max_iters=6, resume=True, hooks=[start])
    runner.train()

    saved = torch.load(trained_work_dir / 'iter_4.pth', weights_only=True)
    assert start.iter == 4
    assert saved['state_dict'] and set(start.model_state) == set(saved['state_dict'])
    for key, value in saved['state_dict'].items():
        torch.testing.assert_close(start.model_state[key], value)
    saved_momentum = [s['momentum_buffer'] for s in saved['optimizer']['state'].values()]
    resumed_momentum = [s['momentum_buffer'] for s in start.optimizer_state['state'].values()]
    assert len(saved_momentum) == len(resumed_momentum) == 2
    for resumed, expected in zip(resumed_momentum, saved_momentum):
        torch.testing.assert_close(resumed, expected)
    assert runner.iter == 6
    assert (trained_work_dir / 'iter_6.pth').is_file()


class _Getattr:
    """Pickles as ``getattr(owner, name)``, the way HistoryBuffer's statistic methods are pickled."""

    def __init__(self, owner, name):
        self.owner, self.name = owner, name

    def __reduce__(self):
        return getattr, (self.owner, self.name)


def test_getattr_in_checkpoints_resolves_only_history_buffer_statistics(tmp_path):
    path = tmp_path / 'getattr.pth'
    torch.save({'mean': _Getattr(HistoryBuffer, 'mean')}, path)
    assert torch.load(path, weights_only=True)['mean'] is HistoryBuffer.mean

    for owner, name in [(HistoryBuffer, '__init__'), (HistoryBuffer, 'update'), (np.ndarray, 'mean')]:
        torch.save({'other': _Getattr(owner, name)}, path)
        with pytest.raises(pickle.UnpicklingError, match='refused getattr'):
            torch.load(path, weights_only=True)


def test_allow_list_is_idempotent():
    assert compat.allow_mmengine_checkpoint_globals()
    before = set(torch.serialization.get_safe_globals())
    assert compat.allow_mmengine_checkpoint_globals()
    assert set(torch.serialization.get_safe_globals()) == before


# --- lvis ------------------------------------------------------------------------------------------------

def _box_polygon(x, y, w, h):
    return [[x, y, x + w, y, x + w, y + h, x, y + h]]


@pytest.fixture(scope='module')
def lvis_files(tmp_path_factory):
    """A tiny LVIS v1 ground truth (one rare, one common, one frequent category) and perfect detections."""
    folder = tmp_path_factory.mktemp('lvis')
    boxes = {  # image id -> [(category id, box)]
        1: [(1, [10, 10, 50, 40]), (3, [100, 60, 80, 90])],
        2: [(2, [20, 30, 60, 60]), (3, [5, 5, 30, 30])],
    }
    images = [dict(id=1, width=320, height=240, coco_url='http://images.cocodataset.org/val2017/1.jpg',
                   neg_category_ids=[2], not_exhaustive_category_ids=[]),
              dict(id=2, width=320, height=240, coco_url='http://images.cocodataset.org/val2017/2.jpg',
                   neg_category_ids=[1], not_exhaustive_category_ids=[3])]
    categories = [dict(id=1, name='okapi', synset='okapi.n.01', frequency='r', image_count=1),
                  dict(id=2, name='gondola', synset='gondola.n.01', frequency='c', image_count=1),
                  dict(id=3, name='cup', synset='cup.n.01', frequency='f', image_count=2)]
    annotations, detections = [], []
    for image_id, objects in boxes.items():
        for category_id, box in objects:
            annotations.append(dict(id=len(annotations) + 1, image_id=image_id, category_id=category_id,
                                    bbox=box, area=box[2] * box[3], segmentation=_box_polygon(*box)))
            detections.append(dict(image_id=image_id, category_id=category_id, bbox=box, score=0.9))
    ground_truth = folder / 'lvis_v1_tiny.json'
    ground_truth.write_text(json.dumps(dict(images=images, categories=categories, annotations=annotations)))
    results = folder / 'detections.json'
    results.write_text(json.dumps(detections))
    return ground_truth, results


_LVIS_EVAL = '''
import sys
from lvis import LVIS, LVISEval, LVISResults
ground_truth = LVIS(sys.argv[1])
evaluator = LVISEval(ground_truth, LVISResults(ground_truth, sys.argv[2]), iou_type=sys.argv[3])
evaluator.evaluate()
evaluator.accumulate()
evaluator.summarize()
print(evaluator.get_results()['AP'])
'''


@pytest.mark.skipif(hasattr(np, 'float'), reason='this numpy still has np.float')
def test_lvis_eval_fails_without_fix(lvis_files):
    """The problem: on numpy >= 1.24 plain lvis 0.5.3 dies in LVISEval.accumulate."""
    result = _run_python(_LVIS_EVAL, *map(str, lvis_files), 'bbox')
    assert result.returncode != 0
    assert "has no attribute 'float'" in result.stderr
    assert 'accumulate' in result.stderr


@pytest.mark.parametrize('iou_type', ['bbox', 'segm'])
def test_lvis_eval_runs_to_the_end_with_perfect_ap(lvis_files, iou_type):
    from lvis import LVIS, LVISEval, LVISResults

    ground_truth = LVIS(str(lvis_files[0]))
    evaluator = LVISEval(ground_truth, LVISResults(ground_truth, str(lvis_files[1])), iou_type=iou_type)
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    results = evaluator.get_results()
    for metric in ('AP', 'AP50', 'APr', 'APc', 'APf'):
        assert results[metric] == pytest.approx(1.0), metric


def test_lvis_eval_in_a_fresh_process_after_import_detection(lvis_files):
    result = _run_python('import siameseim.detection\n' + _LVIS_EVAL, *map(str, lvis_files), 'bbox')
    assert result.returncode == 0, result.stderr
    assert float(result.stdout.split()[-1]) == pytest.approx(1.0)


def test_import_siameseim_leaves_lvis_alone():
    """The lvis fix is the detection task's: the core does not import or change lvis."""
    result = _run_python('import sys, siameseim\nprint("lvis" in sys.modules)\n'
                         'import lvis.eval, numpy\nprint(lvis.eval.np is numpy)')
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ['False', 'True']


def test_lvis_patch_is_narrow_and_idempotent():
    import lvis.eval

    assert lvis_numpy.patch_lvis_np_float()
    patched = lvis.eval.np
    assert lvis_numpy.patch_lvis_np_float()
    assert lvis.eval.np is patched
    assert patched.float is float
    assert patched.cumsum is np.cumsum
    assert 'float' not in vars(np)


def test_timm_posterize_keeps_pillows_old_zero_bit_result():
    from PIL import Image
    from timm.data.auto_augment import AugmentOp

    image = Image.new('RGB', (4, 4), (200, 100, 50))
    op = AugmentOp('PosterizeIncreasing', prob=1.0, magnitude=10)  # keeps 4 - 4 = 0 bits
    assert op(image).getextrema() == ((0, 0), (0, 0), (0, 0))
    assert AugmentOp('PosterizeIncreasing', prob=1.0, magnitude=5)(image).getpixel((0, 0)) == (192, 64, 0)  # 2 bits
