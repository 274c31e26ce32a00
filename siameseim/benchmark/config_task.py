"""A task that is one mmengine config: trained by :mod:`siameseim.cli.train`, scored by :mod:`siameseim.cli.test`."""
import json
import os.path as osp
from typing import Dict, Mapping

from mmengine.config import Config

from ..atomic import write_text_atomically
from .launch import last_checkpoint, launch
from .load_summary import backbone_load_summary
from .seeds import aggregate, seed_dir, task_seeds
from .task import SuiteCheckpoint, SuiteContext, Task, TaskResult

# Where ``--show-dir`` draws the first test images of detection and segmentation tasks.
PREDICTIONS_DIR = 'predictions'


class ConfigTask(Task):
    """A task trained and tested on one mmengine config, once per seed; tasks with ``show_images`` also save
    that many drawn test predictions to ``<work dir>/predictions``.

    Every config that runs is first written to its work dir (``<checkpoint>_<task>.py``), so each number can be
    reproduced alone with ``siameseim-train`` / ``siameseim-test``.
    """

    show_images = 0

    def config(self, checkpoint: SuiteCheckpoint, ctx: SuiteContext) -> Config:
        raise NotImplementedError

    def metrics(self, raw: Mapping[str, float]) -> Dict[str, float]:
        raise NotImplementedError

    def run(self, checkpoint, work_dir, ctx, previous):
        cfg = self.config(checkpoint, ctx)
        seeds = task_seeds(ctx, self.name)
        configs, metric_files, per_seed = [], [], []
        for seed in seeds:
            run_dir = seed_dir(work_dir, seeds, seed)
            cfg.work_dir = run_dir
            if seed is not None:
                cfg.randomness = dict(cfg.get('randomness', {}), seed=seed)
            config_path = osp.join(run_dir, f'{checkpoint.name}_{self.name}.py')
            write_text_atomically(config_path, cfg.dump())
            launch('train', [config_path, '--work-dir', run_dir], ctx, run_dir)
            metrics_path = osp.join(run_dir, 'test_metrics.json')
            show = ['--show-dir', osp.join(run_dir, PREDICTIONS_DIR), '--show-max', str(self.show_images)] \
                if self.show_images else []
            launch('test', [config_path, last_checkpoint(run_dir), '--work-dir', run_dir, '--out', metrics_path,
                            *show], ctx, run_dir)
            with open(metrics_path) as f:
                per_seed.append(self.metrics(json.load(f)))
            configs.append(config_path)
            metric_files.append(metrics_path)
        metrics, runs = aggregate(per_seed)
        return TaskResult(metrics, runs, seeds, configs, metric_files,
                          backbone_load_summary(cfg.model.backbone, checkpoint.path))
