"""What a benchmark task is: the checkpoint it gets, the context it runs in, the result it returns.

Each task package implements :class:`Task` subclasses (``siameseim.detection.benchmark_tasks`` and so on) and
registers them in :data:`siameseim.registry.BENCHMARK_TASKS`; the suite (:mod:`siameseim.suite`) runs them
for every checkpoint and collects their results.
"""
import os.path as osp
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Union

# The backbone every demo-profile task builds: what the demo pretrains (64 px inputs, 4x4 grid).
DEMO_BACKBONE = dict(arch=None, embed_dim=64, depth=4, num_heads=4, patch_size=16)


@dataclass
class SuiteCheckpoint:
    """A checkpoint to benchmark: its display name, its file (None: random initialisation) and arch."""
    name: str
    path: Optional[str]
    arch: str = 'vit-b'


@dataclass
class SuiteContext:
    """What every task needs to know besides the checkpoint.

    ``profile`` is ``full`` (the paper recipes on the OpenMMLab ``data/`` layout) or ``demo`` (the same code on
    the tiny configs, toy data and :data:`DEMO_BACKBONE`); ``launcher`` is how training and testing run
    (``none``: in this process, ``pytorch``: torchrun with ``gpus`` processes, ``slurm``: srun on
    ``partition``).
    """
    out_dir: str
    data_root: str
    profile: str = 'full'
    launcher: str = 'none'
    gpus: int = 1
    partition: Optional[str] = None
    log: Callable[[str], None] = print
    extra: Dict[str, object] = field(default_factory=dict)


@dataclass
class TaskResult:
    """What a task returns: its metrics (the mean where it ran several seeds; a str is a note, as for
    :meth:`Task.run`) and how they were obtained.

    ``runs`` holds each metric's value per seed (same order as ``seeds``) where there are several;
    ``configs`` are the config files the task wrote and ran (one per seed); ``metric_files`` the files its
    metrics were read from; ``load_report`` the summary of loading the checkpoint into the task's backbone.
    """
    metrics: Dict[str, Union[float, str, None]]
    runs: Dict[str, List[float]] = field(default_factory=dict)
    seeds: List[Optional[int]] = field(default_factory=list)
    configs: List[str] = field(default_factory=list)
    metric_files: List[str] = field(default_factory=list)
    load_report: Optional[dict] = None


class Task:
    """One benchmark task. Subclasses name their data and produce metrics in percent.

    ``name`` is the task's registry name and column group; ``order`` places it in the suite's runs and table
    (lower first); ``requires`` names tasks whose results it reads (the suite runs those first).
    """

    name: str = ''
    order: int = 100
    requires: Sequence[str] = ()

    def missing_data(self, ctx: SuiteContext) -> Optional[str]:
        """A one-line reason when the task's data is absent, else None."""
        return None

    def run(self, checkpoint: SuiteCheckpoint, work_dir: str, ctx: SuiteContext,
            previous: Mapping[str, dict]) -> Union[TaskResult, Dict[str, Union[float, str, None]]]:
        """Run the task and return its metrics (or a :class:`TaskResult`); ``previous`` holds this
        checkpoint's finished tasks.

        A metric that cannot be computed is ``None``, or a one-line reason (a note shown under the table)."""
        raise NotImplementedError


def missing_paths(paths: Sequence[str]) -> Optional[str]:
    """The :meth:`Task.missing_data` line for the first of ``paths`` that does not exist, else None."""
    absent = [path for path in paths if not osp.exists(path)]
    return f'{absent[0]} is missing (data layout: docs/data.md)' if absent else None
