"""The suite's tasks: each trains (or extracts features) from a checkpoint and returns metrics in percent.

Two profiles: ``full`` runs the paper recipes (the configs of each task folder) on the OpenMMLab ``data/``
layout; ``demo`` runs the same code on the tiny configs and toy data sets with a tiny backbone. Every config
that runs is first written to its work dir (``<checkpoint>_<task>.py``), so each number can be reproduced
alone with ``tools/train.py`` / ``tools/test.py``.
"""
import contextlib
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys
import traceback
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from mmengine.config import Config

from ..models.vit import resolve_arch
from .load_summary import backbone_load_summary
from .runner import SuiteCheckpoint, SuiteContext, Task, TaskResult, write_atomic

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

# The backbone every demo task builds: what `demo` pretrains (64 px inputs, 4x4 grid).
DEMO_BACKBONE = dict(arch=None, embed_dim=64, depth=4, num_heads=4, patch_size=16)


def _tool(name: str):
    """``tools/<name>.py`` as a module (the tools folder is not a package)."""
    module_name = f'siameseim_tools_{name}'
    path = osp.join(REPO_ROOT, 'tools', f'{name}.py')
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} is missing: the suite runs the tools of the repository checkout, '
                                f'install it editable (bash tools/install.sh or pip install -e .)')
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[module_name] = module
    return sys.modules[module_name]


def _size_letter(arch: str) -> str:
    return {768: 'b', 1024: 'l'}.get(resolve_arch(arch)['embed_dim'], '')


def _run_in_process(script: str, args: List[str], ctx: SuiteContext, work_dir: str) -> None:
    """``tools/<script>.py`` in this process; with ``ctx.extra['quiet']`` its output goes to ``<script>.log``."""
    if not ctx.extra.get('quiet'):
        status = _tool(script).main(args)
    else:
        log_path = osp.join(work_dir, f'{script}.log')
        with open(log_path, 'a') as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            try:
                status = _tool(script).main(args)
            except Exception:
                traceback.print_exc(file=log)
                status = 1
        if status:
            with open(log_path) as log:
                tail = log.read().splitlines()[-15:]
            ctx.log('\n'.join(tail))
    if status:
        raise RuntimeError(f'tools/{script}.py {" ".join(args)} failed with exit status {status}')


def _launch(script: str, args: List[str], ctx: SuiteContext, work_dir: str) -> None:
    """Run ``tools/<script>.py`` in this process (one machine, no launcher), with torchrun or with srun."""
    if ctx.launcher == 'none':
        _run_in_process(script, args, ctx, work_dir)
        return
    path = osp.join(REPO_ROOT, 'tools', f'{script}.py')
    if ctx.launcher == 'pytorch':
        command = [sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={ctx.gpus}',
                   path, *args, '--launcher', 'pytorch']
    else:
        command = ['srun', '-p', ctx.partition, f'--job-name=suite-{script}', f'--ntasks={ctx.gpus}',
                   f'--gres=gpu:{min(ctx.gpus, 8)}', f'--ntasks-per-node={min(ctx.gpus, 8)}', '--kill-on-bad-exit=1',
                   sys.executable, '-u', path, *args, '--launcher', 'slurm']
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO_ROOT, os.environ.get('PYTHONPATH', '')]))
    with open(osp.join(work_dir, f'{script}.log'), 'a') as log:
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, check=False)
    if result.returncode:
        raise RuntimeError(f'{" ".join(command[:4])} ... failed (exit {result.returncode}): see {log.name}')


def _last_checkpoint(work_dir: str) -> str:
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        raise RuntimeError(f'training in {work_dir} saved no checkpoint (no last_checkpoint file)')
    with open(marker) as f:
        return f.read().strip()


def task_seeds(ctx: SuiteContext, task: str) -> List[Optional[int]]:
    """The seeds ``task`` runs with (``ctx.extra['seeds'][task]``); ``[None]``: once, with the config's seed."""
    return list(ctx.extra.get('seeds', {}).get(task) or [None])


def seed_dir(work_dir: str, seeds: Sequence[Optional[int]], seed: Optional[int]) -> str:
    """The work dir of one seed: the task's own with a single seed, ``seed<k>/`` below it otherwise."""
    path = work_dir if len(seeds) == 1 else osp.join(work_dir, f'seed{seed}')
    os.makedirs(path, exist_ok=True)
    return path


def aggregate(per_seed: Sequence[Mapping[str, object]]) -> Tuple[Dict[str, object], Dict[str, List[float]]]:
    """Mean of every number all seeds produced, and (with several seeds) each one's per-seed values; notes
    (str) and None metrics are those of the first seed."""
    keys = [key for key in per_seed[0]
            if all(isinstance(values.get(key), (int, float)) for values in per_seed)]
    runs = {key: [float(values[key]) for values in per_seed] for key in keys}
    means = {key: value for key, value in per_seed[0].items() if value is None or isinstance(value, str)}
    means.update({key: sum(values) / len(values) for key, values in runs.items()})
    return means, (runs if len(per_seed) > 1 else {})


def _missing(paths: Sequence[str]) -> Optional[str]:
    absent = [path for path in paths if not osp.exists(path)]
    return f'{absent[0]} is missing (data layout: docs/data.md)' if absent else None


# Where ``tools/test.py --show-dir`` draws the first test images of detection and segmentation tasks.
PREDICTIONS_DIR = 'predictions'


class ConfigTask(Task):
    """A task trained by ``tools/train.py`` and scored by ``tools/test.py`` on one mmengine config; tasks with
    ``show_images`` also save that many drawn test predictions to ``<work dir>/predictions``."""

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
            config_path = write_atomic(osp.join(run_dir, f'{checkpoint.name}_{self.name}.py'), cfg.dump())
            _launch('train', [config_path, '--work-dir', run_dir], ctx, run_dir)
            metrics_path = osp.join(run_dir, 'test_metrics.json')
            show = ['--show-dir', osp.join(run_dir, PREDICTIONS_DIR), '--show-max', str(self.show_images)] \
                if self.show_images else []
            _launch('test', [config_path, _last_checkpoint(run_dir), '--work-dir', run_dir, '--out', metrics_path,
                             *show], ctx, run_dir)
            with open(metrics_path) as f:
                per_seed.append(self.metrics(json.load(f)))
            configs.append(config_path)
            metric_files.append(metrics_path)
        metrics, runs = aggregate(per_seed)
        return TaskResult(metrics, runs, seeds, configs, metric_files,
                          backbone_load_summary(cfg.model.backbone, checkpoint.path))


def _demo_backbone(cfg: Config, img_size) -> None:
    cfg.model.backbone.update(DEMO_BACKBONE, img_size=img_size)


class ClassificationTask(ConfigTask):
    """ImageNet fine-tuning (``finetune``) or linear probing (``linear``), scored by val top-1."""

    def __init__(self, name: str) -> None:
        self.name = name

    def missing_data(self, ctx):
        root = osp.join(ctx.data_root, 'imagenet')
        return _missing([osp.join(root, 'train'), osp.join(root, 'val')])

    def config(self, checkpoint, ctx):
        kind = 'ft' if self.name == 'finetune' else 'linear'
        if ctx.profile == 'demo':
            cfg = Config.fromfile(osp.join(REPO_ROOT, 'robustness', 'configs', f'vit-tiny_{kind}-4e_toy.py'))
            _demo_backbone(cfg, 64)
            cfg.train_dataloader.dataset.transform.input_size = 64
            cfg.val_dataloader.dataset.transform.update(crop_size=64, resize=72)
            cfg.test_dataloader = cfg.val_dataloader
        else:
            letter = _size_letter(checkpoint.arch)
            names = {'ft': {'b': 'vit-b_ft-100e_in1k.py', 'l': 'vit-l_ft-50e_in1k.py'},
                     'linear': {'b': 'vit-b_linear-90e_in1k.py'}}[kind]
            if letter not in names:
                raise ValueError(f'no {self.name} config for arch {checkpoint.arch}: available for '
                                 f'{", ".join("vit-" + key for key in names)}')
            cfg = Config.fromfile(osp.join(REPO_ROOT, 'robustness', 'configs', names[letter]))
        root = osp.join(ctx.data_root, 'imagenet')
        cfg.train_dataloader.dataset.root = osp.join(root, 'train')
        cfg.val_dataloader.dataset.root = cfg.test_dataloader.dataset.root = osp.join(root, 'val')
        cfg.model.backbone.pretrained = checkpoint.path
        return cfg

    def metrics(self, raw):
        return {'top1': raw['imagenet/top1'], 'top5': raw['imagenet/top5']}


def _feature_backbone(checkpoint: SuiteCheckpoint, ctx: SuiteContext) -> dict:
    """Backbone options of the frozen-feature tasks (few-shot, k-NN): the demo's tiny ViT or the arch."""
    return dict(DEMO_BACKBONE, img_size=64) if ctx.profile == 'demo' else dict(arch=checkpoint.arch)


def _feature_load_summary(checkpoint: SuiteCheckpoint, ctx: SuiteContext) -> Optional[dict]:
    return backbone_load_summary(dict(_feature_backbone(checkpoint, ctx), final_norm=False, global_pool=None),
                                 checkpoint.path)


def _eval_sizes(ctx: SuiteContext) -> Dict[str, int]:
    crop = 64 if ctx.profile == 'demo' else 224
    return dict(crop_size=crop, resize=round(crop * 256 / 224))


class FewShotTask(Task):
    """1 % few-shot logistic regression on frozen features (docs/method.md §5.3), once per subset list."""

    name = 'fewshot'

    def missing_data(self, ctx):
        root = osp.join(ctx.data_root, 'imagenet')
        return _missing([*self.subset_files(ctx), osp.join(root, 'train'), osp.join(root, 'val')])

    @staticmethod
    def subset_files(ctx) -> List[str]:
        """``ctx.extra['subset_files']`` (one run each, e.g. the demo's seeded lists), else ``--subset-file``,
        else the shipped SimCLR 1 % list."""
        from siameseim.robustness.few_shot import SIMCLR_1PERCENT
        return list(ctx.extra.get('subset_files') or [ctx.extra.get('subset_file') or SIMCLR_1PERCENT])

    def run(self, checkpoint, work_dir, ctx, previous):
        from siameseim.robustness.datasets import scan_wnid_folder
        from siameseim.robustness.few_shot import (build_feature_model, default_lambd, few_shot_eval, load_subset_file,
                                                   subset_samples)
        demo = ctx.profile == 'demo'
        model = build_feature_model(checkpoint.path, _feature_backbone(checkpoint, ctx))
        root = osp.join(ctx.data_root, 'imagenet')
        val = scan_wnid_folder(osp.join(root, 'val'))
        files = self.subset_files(ctx)
        seeds = list(range(len(files)))
        per_seed, metric_files = [], []
        for seed, subset_file in zip(seeds, files):
            run_dir = seed_dir(work_dir, seeds, seed)
            train = subset_samples(osp.join(root, 'train'), load_subset_file(subset_file))
            result = few_shot_eval(model, train, val, lambd=0.1 if demo else default_lambd(checkpoint.arch),
                                   cache_dir=run_dir, device=ctx.extra.get('device', 'cpu'),
                                   num_workers=0 if demo else 8, **_eval_sizes(ctx))
            result['subset_file'] = subset_file
            path = write_atomic(osp.join(run_dir, 'few_shot.json'), json.dumps(result, indent=2))
            per_seed.append({'top1': result['top1']})
            metric_files.append(path)
        metrics, runs = aggregate(per_seed)
        return TaskResult(metrics, runs, seeds, [], metric_files, _feature_load_summary(checkpoint, ctx))


class KnnTask(Task):
    """DINO's weighted 20-NN (T = 0.07) on frozen cls-token features: ImageNet val against a train memory bank.

    With several seeds (``ctx.extra['seeds']['knn']``) each seed's bank is a seeded random
    ``bank_fraction`` of every class's training images, so the spread shows how much the score depends
    on the labelled data; with one seed the bank is the whole train set (DINO's protocol).
    """

    name = 'knn'
    bank_fraction = 0.8

    def missing_data(self, ctx):
        root = osp.join(ctx.data_root, 'imagenet')
        return _missing([osp.join(root, 'train'), osp.join(root, 'val')])

    def run(self, checkpoint, work_dir, ctx, previous):
        import torch

        from siameseim.robustness.datasets import scan_wnid_folder
        from siameseim.robustness.few_shot import build_feature_model, cached_features
        from siameseim.robustness.knn import knn_accuracy
        demo = ctx.profile == 'demo'
        model = build_feature_model(checkpoint.path, _feature_backbone(checkpoint, ctx))
        root = osp.join(ctx.data_root, 'imagenet')
        options = dict(device=ctx.extra.get('device', 'cpu'), num_workers=0 if demo else 8, **_eval_sizes(ctx))
        train_x, train_y = cached_features(model, scan_wnid_folder(osp.join(root, 'train')),
                                           osp.join(work_dir, 'features_train.pt'), **options)
        val_x, val_y = cached_features(model, scan_wnid_folder(osp.join(root, 'val')),
                                       osp.join(work_dir, 'features_val.pt'), **options)
        seeds = task_seeds(ctx, self.name)
        per_seed = []
        for seed in seeds:
            keep = torch.arange(len(train_y))
            if seed is not None and len(seeds) > 1:
                generator = torch.Generator().manual_seed(seed)
                keep = torch.cat([index[torch.randperm(len(index), generator=generator)
                                        [:max(1, round(self.bank_fraction * len(index)))]]
                                  for index in (torch.nonzero(train_y == label)[:, 0] for label in train_y.unique())])
            per_seed.append(knn_accuracy(train_x[keep], train_y[keep], val_x, val_y))
        metrics, runs = aggregate(per_seed)
        path = write_atomic(osp.join(work_dir, 'knn.json'),
                            json.dumps(dict(metrics=metrics, runs=runs, seeds=seeds, k=20, temperature=0.07,
                                            bank_fraction=self.bank_fraction if len(seeds) > 1 else 1.0), indent=2))
        return TaskResult(metrics, runs, seeds, [], [path], _feature_load_summary(checkpoint, ctx))


class DetectionTask(ConfigTask):
    """COCO or LVIS v1 Mask R-CNN (ViTDet recipe): box and mask AP (LVIS also the rare-class APs)."""

    show_images = 4

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def folder(self) -> str:
        return 'coco' if self.name == 'coco' else 'lvis_v1'

    def missing_data(self, ctx):
        root = osp.join(ctx.data_root, self.folder)
        files = (['instances_train2017.json', 'instances_val2017.json'] if self.name == 'coco' else
                 ['lvis_v1_train.json', 'lvis_v1_val.json'])
        return _missing([osp.join(root, 'annotations', name) for name in files])

    def config(self, checkpoint, ctx):
        dataset = 'coco' if self.name == 'coco' else 'lvis-v1'
        letter = 'b' if ctx.profile == 'demo' else _size_letter(checkpoint.arch)
        path = osp.join(REPO_ROOT, 'detection', 'configs', f'mask-rcnn_vit-{letter}_lsj-100e_{dataset}.py')
        if not osp.isfile(path):
            raise ValueError(f'no detection config for arch {checkpoint.arch}: available for vit-b and vit-l')
        cfg = Config.fromfile(path)
        root = osp.join(ctx.data_root, self.folder) + '/'
        if ctx.profile == 'demo':
            from siameseim.detection.toy import scale_down
            train_file = 'instances_train2017.json' if self.name == 'coco' else 'lvis_v1_train.json'
            with open(osp.join(root, 'annotations', train_file)) as f:
                categories = sorted(json.load(f)['categories'], key=lambda category: category['id'])
            cfg = scale_down(cfg, root, max_iters=ctx.extra.get('detection_iters', 6), categories=categories)
            cfg.model.backbone.update(DEMO_BACKBONE)
        else:
            for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
                cfg[loader].dataset.data_root = root
            for evaluator in ('val_evaluator', 'test_evaluator'):
                cfg[evaluator].ann_file = root + osp.relpath(cfg[evaluator].ann_file, cfg.data_root)
            loss_cls = cfg.model.roi_head.bbox_head.loss_cls
            if 'image_count_file' in loss_cls:
                loss_cls.image_count_file = root + 'annotations/lvis_v1_train.json'
        cfg.model.backbone.pretrained = checkpoint.path
        return cfg

    def metrics(self, raw):
        prefix = 'coco' if self.name == 'coco' else 'lvis'
        suffix = 'mAP' if self.name == 'coco' else 'AP'
        keys = {f'{kind}_AP': f'{prefix}/{kind}_{suffix}' for kind in ('bbox', 'segm')}
        if self.name == 'lvis':
            keys.update({f'{kind}_APr': f'lvis/{kind}_APr' for kind in ('bbox', 'segm')})
        absent = [key for key in keys.values() if key not in raw]
        if absent:
            raise RuntimeError(f'the evaluation wrote no {absent[0]} (it wrote {", ".join(sorted(raw)) or "nothing"}):'
                               f' use the {"CheckedCocoMetric" if self.name == "coco" else "LVISEvalMetric"} '
                               f'evaluator of the detection configs')
        # pycocotools and the lvis API report -1 where there is no ground truth: no value, not -100.
        return {name: 100.0 * raw[key] for name, key in keys.items() if raw[key] >= 0}


class SegmentationTask(ConfigTask):
    """ADE20k UperNet (MAE recipe), single-scale mIoU."""

    name = 'ade20k'
    show_images = 4

    def missing_data(self, ctx):
        root = osp.join(ctx.data_root, 'ade', 'ADEChallengeData2016')
        return _missing([osp.join(root, 'images', 'training'), osp.join(root, 'annotations', 'validation')])

    def config(self, checkpoint, ctx):
        if ctx.profile == 'demo':
            cfg = Config.fromfile(osp.join(REPO_ROOT, 'segmentation', 'configs', 'upernet_vit-tiny_ade20k-64x64_toy.py'))
            _demo_backbone(cfg, (64, 64))
            width = DEMO_BACKBONE['embed_dim']
            cfg.model.neck.embed_dim = width
            cfg.model.decode_head.in_channels = [width] * 4
            cfg.model.auxiliary_head.in_channels = width
            cfg.train_cfg.max_iters = ctx.extra.get('segmentation_iters', 20)
        else:
            letter = _size_letter(checkpoint.arch)
            cfg = Config.fromfile(osp.join(REPO_ROOT, 'segmentation', 'configs',
                                           f'upernet_vit-{letter}_160k_ade20k-512x512.py'))
        root = osp.join(ctx.data_root, 'ade', 'ADEChallengeData2016')
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            cfg[loader].dataset.data_root = root
        cfg.model.backbone.pretrained = checkpoint.path
        return cfg

    def metrics(self, raw):
        key = next(key for key in raw if key.split('/')[-1] == 'mIoU')
        return {'mIoU': raw[key]}


class RobustnessTask(Task):
    """The fine-tuned classifier on ImageNet val, -A, -R, -Sketch and -C (docs/protocols.md §4): each set found is
    a test config (the ``finetune`` task's config with the set's dataset and metric) scored by ``tools/test.py``
    with the suite's launcher, like the other tasks' tests."""

    name = 'robustness'
    requires = ('finetune', )
    SETS = ('imagenet-a', 'imagenet-r', 'sketch', 'imagenet-c')

    def missing_data(self, ctx):
        if any(osp.isdir(osp.join(ctx.data_root, name)) for name in self.SETS):
            return None
        return f'none of {", ".join(self.SETS)} exists under {ctx.data_root} (data layout: docs/data.md)'

    def run(self, checkpoint, work_dir, ctx, previous):
        from siameseim.robustness.evaluate import classifier_config, eval_geometry, run_benchmarks
        from siameseim.checkpoint import read_checkpoint
        finetune = previous['finetune']
        finetune_config = (finetune['configs'][0]['path'] if 'configs' in finetune else
                           osp.join(finetune['work_dir'], f'{checkpoint.name}_finetune.py'))
        classifier = classifier_config(finetune_config)
        weights = _last_checkpoint(osp.dirname(finetune_config))
        configs, metric_files = [], []

        def test(name: str, cfg: Config) -> dict:
            """One set's test config, dumped and run by tools/test.py with the suite's launcher."""
            set_dir = osp.join(work_dir, name)
            os.makedirs(set_dir, exist_ok=True)
            config_path = write_atomic(osp.join(set_dir, f'{checkpoint.name}_robustness_{name}.py'), cfg.dump())
            metrics_path = osp.join(set_dir, 'test_metrics.json')
            _launch('test', [config_path, weights, '--work-dir', set_dir, '--out', metrics_path], ctx, set_dir)
            configs.append(config_path)
            metric_files.append(metrics_path)
            with open(metrics_path) as f:
                return json.load(f)

        crop, resize = eval_geometry(classifier)
        demo = ctx.profile == 'demo'
        results = run_benchmarks(classifier, ctx.data_root, test, sets=('imagenet', ) + self.SETS, crop_size=crop,
                                 resize=resize, batch_size=64 if demo else None, num_workers=0 if demo else None,
                                 log=ctx.log)
        write_atomic(osp.join(work_dir, 'results.json'), json.dumps(results, indent=2))
        metrics = {}
        for name, key in (('imagenet-a', 'imagenet_a_top1'), ('imagenet-r', 'imagenet_r_top1'),
                          ('sketch', 'imagenet_sketch_top1')):
            if name in results:
                metrics[key] = results[name]['top1']
        if 'imagenet-c' in results:
            # mCE needs all 15 corruptions x 5 severities: otherwise the reason (a note) stands in for the value
            summary = results['imagenet-c']
            for key in ('one_minus_mce', 'mce'):
                metrics[key] = summary.get('mce_gap') if summary[key] is None else summary[key]
        # tools/test.py loads the fine-tuned classifier strictly: every tensor, nothing missing or unused
        loaded = read_checkpoint(weights)
        report = dict(format='fine-tuned classifier (strict)', source=weights,
                      loaded=len(loaded.get('state_dict', loaded)), resized=0, resized_keys=[], missing=0,
                      unexplained_missing=0, unexpected=0, dropped=0)
        return TaskResult(metrics, {}, [None], configs, metric_files, report)


def build_tasks(names: Sequence[str]) -> List[Task]:
    """Task objects in suite order; ``names`` are any of :data:`TASK_NAMES`."""
    factories = {
        'finetune': lambda: ClassificationTask('finetune'),
        'linear': lambda: ClassificationTask('linear'),
        'knn': KnnTask,
        'fewshot': FewShotTask,
        'coco': lambda: DetectionTask('coco'),
        'lvis': lambda: DetectionTask('lvis'),
        'ade20k': SegmentationTask,
        'robustness': RobustnessTask,
    }
    unknown = [name for name in names if name not in factories]
    if unknown:
        raise ValueError(f'unknown task(s) {", ".join(unknown)}: choose from {", ".join(factories)}')
    return [factories[name]() for name in factories if name in names]


TASK_NAMES = ('finetune', 'linear', 'knn', 'fewshot', 'coco', 'lvis', 'ade20k', 'robustness')
