"""The tasks the suite runs, found in the registry the task packages fill.

The suite is the one layer that knows every task package: importing :data:`TASK_PACKAGES`' ``benchmark_tasks``
modules registers their tasks in :data:`siameseim.registry.BENCHMARK_TASKS`, and the suite builds them by name.
"""
import importlib
from typing import List, Sequence, Tuple

from ..benchmark import Task
from ..registry import BENCHMARK_TASKS

# The packages whose ``benchmark_tasks`` module registers suite tasks.
TASK_PACKAGES = ('siameseim.robustness', 'siameseim.detection', 'siameseim.segmentation')


def registered_tasks() -> List[type]:
    """Every registered task class, in suite order (:attr:`Task.order`)."""
    for package in TASK_PACKAGES:
        importlib.import_module(f'{package}.benchmark_tasks')
    return sorted(BENCHMARK_TASKS.module_dict.values(), key=lambda task: (task.order, task.name))


def task_names() -> Tuple[str, ...]:
    """The names of every registered task, in suite order."""
    return tuple(task.name for task in registered_tasks())


def build_tasks(names: Sequence[str]) -> List[Task]:
    """Task objects in suite order; ``names`` are any of :func:`task_names`."""
    classes = registered_tasks()
    known = [task.name for task in classes]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f'unknown task(s) {", ".join(unknown)}: choose from {", ".join(known)}')
    return [task() for task in classes if task.name in names]
