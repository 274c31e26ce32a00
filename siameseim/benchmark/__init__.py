"""The interface between the benchmark suite and the tasks.

A task package subclasses :class:`Task` (or :class:`ConfigTask` for one train + test config) and registers it
in :data:`siameseim.registry.BENCHMARK_TASKS`; the suite (:mod:`siameseim.suite`) imports the task packages,
builds the registered tasks and runs them. This package belongs to the core: it imports no task.
"""
from .config_task import PREDICTIONS_DIR, ConfigTask
from .launch import last_checkpoint, launch
from .load_summary import backbone_load_summary, summarize
from .seeds import aggregate, seed_dir, task_seeds
from .task import DEMO_BACKBONE, SuiteCheckpoint, SuiteContext, Task, TaskResult, missing_paths

__all__ = ['ConfigTask', 'DEMO_BACKBONE', 'PREDICTIONS_DIR', 'SuiteCheckpoint', 'SuiteContext', 'Task', 'TaskResult',
           'aggregate', 'backbone_load_summary', 'last_checkpoint', 'launch', 'missing_paths', 'seed_dir',
           'summarize', 'task_seeds']
