"""The ImageNet tasks of the benchmark suite: fine-tuning, linear probing, k-NN, 1 % few-shot and the
robustness sets (A, R, Sketch, C) scored with the fine-tuned classifier.

Registered in :data:`siameseim.registry.BENCHMARK_TASKS`; the ``full`` profile runs the configs of this folder
on ``data/imagenet`` (and the robustness sets beside it), the ``demo`` profile the tiny configs on toy data.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional

from mmengine.config import Config

from siameseim.atomic import write_text_atomically
from siameseim.benchmark import (DEMO_BACKBONE, ConfigTask, SuiteCheckpoint, SuiteContext, Task, TaskResult,
                                 aggregate, backbone_load_summary, last_checkpoint, launch, missing_paths, seed_dir,
                                 task_seeds)
from siameseim.checkpoint import read_checkpoint
from siameseim.models.vit import resolve_arch
from siameseim.registry import BENCHMARK_TASKS

CONFIGS = osp.join(osp.dirname(osp.abspath(__file__)), 'configs')


def _imagenet_missing(ctx: SuiteContext) -> Optional[str]:
    root = osp.join(ctx.data_root, 'imagenet')
    return missing_paths([osp.join(root, 'train'), osp.join(root, 'val')])


class _ClassificationTask(ConfigTask):
    """ImageNet fine-tuning or linear probing (``kind``: ``ft`` or ``linear``), scored by val top-1."""

    kind = ''
    # Paper recipes by backbone width (ViT-B, ViT-L).
    recipes: Dict[int, str] = {}

    def missing_data(self, ctx):
        return _imagenet_missing(ctx)

    def config(self, checkpoint, ctx):
        if ctx.profile == 'demo':
            cfg = Config.fromfile(osp.join(CONFIGS, f'vit-tiny_{self.kind}-4e_toy.py'))
            cfg.model.backbone.update(DEMO_BACKBONE, img_size=64)
            cfg.train_dataloader.dataset.transform.input_size = 64
            cfg.val_dataloader.dataset.transform.update(crop_size=64, resize=72)
            cfg.test_dataloader = cfg.val_dataloader
        else:
            recipe = self.recipes.get(resolve_arch(checkpoint.arch)['embed_dim'])
            if recipe is None:
                names = {768: 'vit-b', 1024: 'vit-l'}
                raise ValueError(f'no {self.name} config for arch {checkpoint.arch}: available for '
                                 f'{", ".join(names[width] for width in self.recipes)}')
            cfg = Config.fromfile(osp.join(CONFIGS, recipe))
        root = osp.join(ctx.data_root, 'imagenet')
        cfg.train_dataloader.dataset.root = osp.join(root, 'train')
        cfg.val_dataloader.dataset.root = cfg.test_dataloader.dataset.root = osp.join(root, 'val')
        cfg.model.backbone.pretrained = checkpoint.path
        return cfg

    def metrics(self, raw):
        return {'top1': raw['imagenet/top1'], 'top5': raw['imagenet/top5']}


@BENCHMARK_TASKS.register_module(name='finetune')
class FineTuneTask(_ClassificationTask):
    """End-to-end ImageNet fine-tuning (layer-wise lr decay), val top-1 / top-5."""

    name = 'finetune'
    order = 10
    kind = 'ft'
    recipes = {768: 'vit-b_ft-100e_in1k.py', 1024: 'vit-l_ft-50e_in1k.py'}


@BENCHMARK_TASKS.register_module(name='linear')
class LinearProbeTask(_ClassificationTask):
    """Linear probing on the frozen backbone (BatchNorm before the head, LARS), val top-1 / top-5."""

    name = 'linear'
    order = 20
    kind = 'linear'
    recipes = {768: 'vit-b_linear-90e_in1k.py'}


def _feature_backbone(checkpoint: SuiteCheckpoint, ctx: SuiteContext) -> dict:
    """Backbone options of the frozen-feature tasks (few-shot, k-NN): the demo's tiny ViT or the arch."""
    return dict(DEMO_BACKBONE, img_size=64) if ctx.profile == 'demo' else dict(arch=checkpoint.arch)


def _feature_load_summary(checkpoint: SuiteCheckpoint, ctx: SuiteContext) -> Optional[dict]:
    return backbone_load_summary(dict(_feature_backbone(checkpoint, ctx), final_norm=False, global_pool=None),
                                 checkpoint.path)


def _eval_sizes(ctx: SuiteContext) -> Dict[str, int]:
    crop = 64 if ctx.profile == 'demo' else 224
    return dict(crop_size=crop, resize=round(crop * 256 / 224))


@BENCHMARK_TASKS.register_module(name='fewshot')
class FewShotTask(Task):
    """1 % few-shot logistic regression on frozen features (docs/method.md §5.3), once per subset list."""

    name = 'fewshot'
    order = 40

    def missing_data(self, ctx):
        return missing_paths(self.subset_files(ctx)) or _imagenet_missing(ctx)

    @staticmethod
    def subset_files(ctx) -> List[str]:
        """``ctx.extra['subset_files']`` (one run each, e.g. the demo's seeded lists), else ``--subset-file``,
        else the shipped SimCLR 1 % list."""
        from .few_shot import SIMCLR_1PERCENT
        return list(ctx.extra.get('subset_files') or [ctx.extra.get('subset_file') or SIMCLR_1PERCENT])

    def run(self, checkpoint, work_dir, ctx, previous):
        from .datasets import scan_wnid_folder
        from .few_shot import build_feature_model, default_lambd, few_shot_eval, load_subset_file, subset_samples
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
            path = osp.join(run_dir, 'few_shot.json')
            write_text_atomically(path, json.dumps(result, indent=2))
            per_seed.append({'top1': result['top1']})
            metric_files.append(path)
        metrics, runs = aggregate(per_seed)
        return TaskResult(metrics, runs, seeds, [], metric_files, _feature_load_summary(checkpoint, ctx))


@BENCHMARK_TASKS.register_module(name='knn')
class KnnTask(Task):
    """DINO's weighted 20-NN (T = 0.07) on frozen cls-token features: ImageNet val against a train memory bank.

    With several seeds (``ctx.extra['seeds']['knn']``) each seed's bank is a seeded random
    ``bank_fraction`` of every class's training images, so the spread shows how much the score depends
    on the labelled data; with one seed the bank is the whole train set (DINO's protocol).
    """

    name = 'knn'
    order = 30
    bank_fraction = 0.8

    def missing_data(self, ctx):
        return _imagenet_missing(ctx)

    def run(self, checkpoint, work_dir, ctx, previous):
        import torch

        from .datasets import scan_wnid_folder
        from .few_shot import build_feature_model, cached_features
        from .knn import knn_accuracy
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
        path = osp.join(work_dir, 'knn.json')
        write_text_atomically(path, json.dumps(dict(metrics=metrics, runs=runs, seeds=seeds, k=20, temperature=0.07,
                                                    bank_fraction=self.bank_fraction if len(seeds) > 1 else 1.0),
                                               indent=2))
        return TaskResult(metrics, runs, seeds, [], [path], _feature_load_summary(checkpoint, ctx))


@BENCHMARK_TASKS.register_module(name='robustness')
class RobustnessTask(Task):
    """The fine-tuned classifier on ImageNet val, -A, -R, -Sketch and -C (docs/protocols.md §4): each set found is
    a test config (the ``finetune`` task's config with the set's dataset and metric) scored by
    :mod:`siameseim.cli.test` with the suite's launcher, like the other tasks' tests."""

    name = 'robustness'
    order = 80
    requires = ('finetune', )
    SETS = ('imagenet-a', 'imagenet-r', 'sketch', 'imagenet-c')

    def missing_data(self, ctx):
        if any(osp.isdir(osp.join(ctx.data_root, name)) for name in self.SETS):
            return None
        return f'none of {", ".join(self.SETS)} exists under {ctx.data_root} (data layout: docs/data.md)'

    def run(self, checkpoint, work_dir, ctx, previous):
        from .evaluate import classifier_config, eval_geometry, run_benchmarks
        finetune = previous['finetune']
        finetune_config = (finetune['configs'][0]['path'] if 'configs' in finetune else
                           osp.join(finetune['work_dir'], f'{checkpoint.name}_finetune.py'))
        classifier = classifier_config(finetune_config)
        weights = last_checkpoint(osp.dirname(finetune_config))
        configs, metric_files = [], []

        def test(name: str, cfg: Config) -> dict:
            """One set's test config, dumped and run by the test program with the suite's launcher."""
            set_dir = osp.join(work_dir, name)
            os.makedirs(set_dir, exist_ok=True)
            config_path = osp.join(set_dir, f'{checkpoint.name}_robustness_{name}.py')
            write_text_atomically(config_path, cfg.dump())
            metrics_path = osp.join(set_dir, 'test_metrics.json')
            launch('test', [config_path, weights, '--work-dir', set_dir, '--out', metrics_path], ctx, set_dir)
            configs.append(config_path)
            metric_files.append(metrics_path)
            with open(metrics_path) as f:
                return json.load(f)

        crop, resize = eval_geometry(classifier)
        demo = ctx.profile == 'demo'
        results = run_benchmarks(classifier, ctx.data_root, test, sets=('imagenet', ) + self.SETS, crop_size=crop,
                                 resize=resize, batch_size=64 if demo else None, num_workers=0 if demo else None,
                                 log=ctx.log)
        write_text_atomically(osp.join(work_dir, 'results.json'), json.dumps(results, indent=2))
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
        # the test program loads the fine-tuned classifier strictly: every tensor, nothing missing or unused
        loaded = read_checkpoint(weights)
        report = dict(format='fine-tuned classifier (strict)', source=weights,
                      loaded=len(loaded.get('state_dict', loaded)), resized=0, resized_keys=[], missing=0,
                      unexplained_missing=0, unexpected=0, dropped=0)
        return TaskResult(metrics, {}, [None], configs, metric_files, report)
