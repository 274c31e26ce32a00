"""A tiny mmengine training run for checkpoint tests: tools/train.py and tools/test.py on a 2-input regressor.

Importing the module registers the toy model, data set, metric and recording hooks in the ``siameseim`` scope;
:func:`write_config` writes a config for the tools. Runs take well under a second per epoch on a CPU, also in a
subprocess (:func:`run_tool`), where faults such as a kill during a save are injected.
"""
import itertools
import os
import os.path as osp
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from torch import nn
from torch.utils.data import Dataset

from siameseim.registry import DATASETS, HOOKS, METRICS, MODELS

from checkout import REPO_ROOT

ROOT = Path(REPO_ROOT)
TESTS = Path(__file__).resolve().parent
_RUNS = itertools.count()
# Learning rates (one per parameter group) of every training iteration of the last runs (RecordLrHook).
RECORDED_LRS: Dict[int, List[float]] = {}


@MODELS.register_module(force=True)
class ToyRegressor(BaseModel):
    """One linear layer fitted with an MSE loss, plus ``padding`` weights that make checkpoints ``size_kb`` big."""

    def __init__(self, size_kb: int = 4, outputs: int = 1) -> None:
        super().__init__()
        self.linear = nn.Linear(2, outputs)
        self.padding = nn.Parameter(torch.zeros(size_kb * 256), requires_grad=False)

    def forward(self, inputs, targets=None, mode='tensor'):
        outputs = self.linear(inputs)[:, 0]
        if mode == 'loss':
            return dict(loss=((outputs - targets) ** 2).mean())
        if mode == 'predict':
            return [dict(error=float(error)) for error in (outputs - targets).abs()]
        return outputs


@DATASETS.register_module(force=True)
class ToyPoints(Dataset):
    """8 points on a line."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> dict:
        return dict(inputs=torch.tensor([index / 8, 1.0]), targets=torch.tensor(index / 4))


@METRICS.register_module(force=True)
class ToyError(BaseMetric):
    """Mean absolute error of the regressor (a lower-is-better score for save_best)."""

    def process(self, data_batch, data_samples) -> None:
        self.results.extend(sample['error'] for sample in data_samples)

    def compute_metrics(self, results: List[float]) -> dict:
        return dict(error=sum(results) / len(results))


@HOOKS.register_module(force=True)
class RecordLrHook(Hook):
    """Records the lrs of every training iteration in :data:`RECORDED_LRS`: the parameter groups' and, last,
    the base lr mmengine tracks (and logs as ``base_lr``) for an optimizer with several groups."""

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        RECORDED_LRS[runner.iter] = [group['lr'] for group in runner.optim_wrapper.param_groups]


@HOOKS.register_module(force=True)
class PoisonHook(Hook):
    """Puts a NaN into the weights (``target='weights'``) or the optimizer state after iteration ``at_iter``."""

    def __init__(self, at_iter: int, target: str = 'weights') -> None:
        self.at_iter, self.target = at_iter, target

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 != self.at_iter:
            return
        with torch.no_grad():
            if self.target == 'weights':
                runner.model.linear.weight[0, 0] = float('nan')
            else:
                state = runner.optim_wrapper.optimizer.state[runner.model.linear.weight]
                state['momentum_buffer'][0, 0] = float('inf')


def write_config(folder: Path, name: str = 'toy', *, max_epochs: int = 2, max_keep_ckpts: int = 1,
                 size_kb: int = 4, outputs: int = 1, extra: str = '') -> str:
    """A config for tools/train.py and tools/test.py: SGD with warm-up and cosine lr, a checkpoint per epoch."""
    path = folder / f'{name}.py'
    path.write_text(f"""\
default_scope = 'siameseim'
custom_imports = dict(imports=['toy_run'], allow_failed_imports=False)
runner_type = 'siameseim.SafeRunner'
model = dict(type='ToyRegressor', size_kb={size_kb}, outputs={outputs})
_loader = dict(dataset=dict(type='ToyPoints'), sampler=dict(type='DefaultSampler', shuffle=False),
               collate_fn=dict(type='default_collate'), batch_size=2, num_workers=0)
train_dataloader = _loader
test_dataloader = _loader
train_cfg = dict(by_epoch=True, max_epochs={max_epochs})
test_cfg = dict(type='TestLoop')
test_evaluator = dict(type='ToyError')
# the bias learns at half the lr: several parameter groups, as with layer decay
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9),
                     paramwise_cfg=dict(custom_keys={{'linear.bias': dict(lr_mult=0.5)}}))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.25, by_epoch=True, begin=0, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=7, by_epoch=True, begin=1, end=8, convert_to_iter_based=True),
]
default_hooks = dict(checkpoint=dict(type='SafeCheckpointHook', interval=1, max_keep_ckpts={max_keep_ckpts}),
                     logger=dict(type='LoggerHook', interval=1))
custom_hooks = [dict(type='RecordLrHook')]
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
log_level = 'INFO'
{extra}
""")
    return str(path)


def tool_argv(config: str, work_dir: Path, *options: str, checkpoint: Optional[str] = None) -> List[str]:
    """Arguments of tools/train.py (tools/test.py with ``checkpoint``); each run gets its own experiment name, so
    runs started within the same second do not share mmengine's logger and its log file."""
    return [config, *([str(checkpoint)] if checkpoint else []), '--work-dir', str(work_dir), '--cfg-options',
            f'experiment_name=toy{next(_RUNS)}', *options]


def run_tool(tool: str, args: Sequence[str], *, prelude: str = '', limit_file_bytes: Optional[int] = None,
             env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    """The ``tool`` program of :mod:`siameseim.cli` with ``args`` in a fresh interpreter, after running
    ``prelude`` there (fault injection), with an optional file-size limit (``ulimit -f``, the way a full disk looks
    to a writer)."""
    code = (f'import sys\n{prelude}\n'
            f'from siameseim.cli import {tool} as program; sys.exit(program.main(sys.argv[1:]))')

    def limit() -> None:
        if limit_file_bytes is not None:
            import resource
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_bytes, limit_file_bytes))

    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(TESTS), os.environ.get('PYTHONPATH')])), **(env or {}))
    return subprocess.run([sys.executable, '-c', code, *args], cwd=str(ROOT), capture_output=True, text=True,
                          timeout=600, env=environment, preexec_fn=limit)


def checkpoint_iter(path: str) -> int:
    """The iteration a checkpoint was saved at (raises if it is not a complete checkpoint)."""
    return int(torch.load(path, map_location='cpu', weights_only=True)['meta']['iter'])


def pointer(work_dir: Path) -> str:
    """What ``last_checkpoint`` names ('' when empty)."""
    path = work_dir / 'last_checkpoint'
    return path.read_text().strip() if path.is_file() else ''


def log_text(work_dir: Path) -> str:
    """Everything the runs in ``work_dir`` logged."""
    return '\n'.join(Path(root, name).read_text() for root, _, names in os.walk(work_dir)
                     for name in names if name.endswith('.log') and osp.isfile(osp.join(root, name)))
