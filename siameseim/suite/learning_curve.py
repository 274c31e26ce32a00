"""Frozen-feature accuracy against pretraining iterations: does the demo's tiny pretraining learn?

    python -m siameseim.suite.learning_curve --method mae --iterations 4500 --every 16 --world plain \
        --train-per-class 300 --out work_dirs/curve

Pretrains the tiny ``method`` exactly as ``demo`` does (:func:`~siameseim.suite.demo.pretrain_tiny`, with a
checkpoint every ``--every`` epochs) on toy ImageNet train images (the demo's world, or the ``plain`` one of
:meth:`~siameseim.suite.toy_world.ToyWorld.plain`; 50 val images per class), then probes random init and every
checkpoint on the val images with frozen features: DINO's weighted 20-NN (the demo's k-NN column) and the
few-shot probe's logistic regression trained on all train images, each on the cls token and on the mean of the
patch tokens (what the ``LIN`` config pools). Prints a Markdown table and writes ``curve_<method>.json``.
"""
import argparse
import glob
import json
import os.path as osp
import re
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import DictAction

from ..atomic import write_text_atomically
from ..benchmark import DEMO_BACKBONE, SuiteContext
from ..cli_checks import positive_int
from ..errors import InputError
from ..pretrain.ablation import ROWS
from .demo import ABLATION_PREFIX, DEMO_IMAGE_SIZE, PRETRAIN_CONFIGS, pretrain_tiny
from .toy_data import ToyWorldSizes, write_classification
from .toy_world import ToyWorld

PROBES = ('knn_cls', 'logistic_cls', 'knn_mean', 'logistic_mean')
# The demo's evaluation geometry (the frozen-feature tasks': resize by 256/224, centre crop).
EVAL_SIZES = dict(crop_size=DEMO_IMAGE_SIZE, resize=round(DEMO_IMAGE_SIZE * 256 / 224))


def _features(model: torch.nn.Module,
              samples: Sequence[Tuple[str, int]]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cls tokens, mean patch tokens (last block, no norm) and labels of ``samples``."""
    from siameseim.robustness.loading import iterate_batches
    from siameseim.robustness.transforms import EvalTransform

    cls_tokens, mean_tokens, labels = [], [], []
    with torch.no_grad():
        for images, targets in iterate_batches(samples, EvalTransform(**EVAL_SIZES, interpolation='bilinear'),
                                               device=torch.device('cpu'), batch_size=64, num_workers=0):
            tokens = model.forward_features(images)
            cls_tokens.append(tokens[:, 0])
            mean_tokens.append(tokens[:, 1:].mean(1))
            labels.append(targets)
    return torch.cat(cls_tokens), torch.cat(mean_tokens), torch.cat(labels)


def probe(checkpoint: Optional[str], train: Sequence[Tuple[str, int]], val: Sequence[Tuple[str, int]],
          seed: int = 0) -> Dict[str, float]:
    """Top-1 (%) of every :data:`PROBES` entry for ``checkpoint`` (None: the random init drawn with ``seed``);
    one model embeds both train and val images."""
    from siameseim.robustness.few_shot import accuracy, build_feature_model, fit_logistic_regression, preprocess
    from siameseim.robustness.knn import knn_accuracy

    torch.manual_seed(seed)
    model = build_feature_model(checkpoint, dict(DEMO_BACKBONE, img_size=DEMO_IMAGE_SIZE))
    train_cls, train_mean, train_y = _features(model, train)
    val_cls, val_mean, val_y = _features(model, val)
    result = {}
    for pool, train_x, val_x in (('cls', train_cls, val_cls), ('mean', train_mean, val_mean)):
        result[f'knn_{pool}'] = knn_accuracy(train_x, train_y, val_x, val_y)['top1']
        classifier = fit_logistic_regression(preprocess(train_x), train_y, lambd=0.1, solver='lbfgs')
        result[f'logistic_{pool}'] = accuracy(classifier, preprocess(val_x), val_y)
    return result


WORLDS = {'demo': ToyWorld, 'plain': ToyWorld.plain}


def make_curve_data(root: str, world: str, train_per_class: int, seed: int = 0) -> None:
    """Toy ImageNet train/val folders (50 val images per class) of ``world`` (a key of :data:`WORLDS`) under
    ``root``, once per ``root`` (an interrupted run is rewritten, the draws are seeded); :class:`InputError` if
    ``root`` already holds data made with other settings."""
    from siameseim.robustness.toy import toy_wnids

    marker = osp.join(root, '.complete')
    settings = dict(world=world, train_per_class=train_per_class, seed=seed)
    if osp.isfile(marker):
        with open(marker) as f:
            try:
                made = json.load(f)
            except ValueError:
                made = 'unreadable settings'
        if made != settings:
            raise InputError(f'{root} holds toy data made with {made}, not {settings}: use another --out')
        return
    toy_world = WORLDS[world]()
    sizes = ToyWorldSizes(train_per_class=train_per_class, val_per_class=50, ood_per_class=1)
    write_classification(root, toy_world, list(toy_wnids(toy_world.num_classes)), sizes,
                         np.random.default_rng(seed))
    write_text_atomically(marker, json.dumps(settings))


def _epoch(path: str) -> int:
    return int(re.fullmatch(r'epoch_(\d+)\.pth', osp.basename(path)).group(1))


def learning_curve(method: str, out_dir: str, data_root: str, iterations: int, batch_size: int, every: int,
                   log: Callable[[str], None] = print, options: Optional[dict] = None) -> List[dict]:
    """Random init, then every ``every``-epoch checkpoint of the tiny ``method`` pretraining (``options``
    merged into its config), probed; rows of ``{'iterations', 'checkpoint', <probe>: top-1}``."""
    from siameseim.robustness.datasets import scan_wnid_folder

    ctx = SuiteContext(out_dir=out_dir, data_root=data_root, profile='demo', log=log, extra=dict(quiet=True))
    work_dir = osp.join(out_dir, 'pretrain', method)
    pretrain_tiny(method, work_dir, data_root, iterations, batch_size, ctx, checkpoint_every=every, options=options)
    train = scan_wnid_folder(osp.join(data_root, 'imagenet', 'train'))
    val = scan_wnid_folder(osp.join(data_root, 'imagenet', 'val'))
    per_epoch = max(len(train) // batch_size, 1)
    checkpoints = sorted(glob.glob(osp.join(work_dir, 'epoch_*.pth')), key=_epoch)
    rows = []
    for checkpoint in [None, *checkpoints]:
        row = dict(iterations=0 if checkpoint is None else _epoch(checkpoint) * per_epoch, checkpoint=checkpoint)
        row.update(probe(checkpoint, train, val))
        log(f'[curve] {method} after {row["iterations"]} iterations: '
            + ', '.join(f'{name} {row[name]:.1f}' for name in PROBES))
        rows.append(row)
    return rows


def to_markdown(rows: Sequence[dict]) -> str:
    """The curve as a Markdown table, one row per checkpoint (0 iterations: random init)."""
    lines = ['| pretraining iterations | ' + ' | '.join(PROBES) + ' |', '|' + ' --- |' * (len(PROBES) + 1)]
    for row in rows:
        name = 'random init' if row['checkpoint'] is None else str(row['iterations'])
        lines.append(f'| {name} | ' + ' | '.join(f'{row[probe_name]:.1f}' for probe_name in PROBES) + ' |')
    return '\n'.join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--method', choices=sorted(PRETRAIN_CONFIGS) + [f'{ABLATION_PREFIX}{row}' for row in ROWS],
                        default='siameseim', help='a method, or a row of the ablation (row-a ... row-k)')
    parser.add_argument('--iterations', type=positive_int, default=300, help='pretraining iterations (about)')
    parser.add_argument('--batch-size', type=positive_int, default=32)
    parser.add_argument('--every', type=positive_int, default=1, help='probe a checkpoint every this many epochs')
    parser.add_argument('--out', default='work_dirs/learning_curve')
    parser.add_argument('--world', choices=sorted(WORLDS), default='demo',
                        help="the toy world generated under --out: the demo's, or the plain one")
    parser.add_argument('--train-per-class', type=positive_int, default=100,
                        help='generated train images per class (the demo has 100)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='override the pretraining config, e.g. model.neg_weight=0.2 (list items by index: '
                             'custom_hooks.0.base_momentum=0.9)')
    parser.add_argument('--data-root', help="toy data with imagenet/train and imagenet/val (default: generated "
                                            "under --out)")
    args = parser.parse_args(argv)
    data_root = args.data_root or osp.join(args.out, 'data')
    if args.data_root and not osp.isdir(osp.join(args.data_root, 'imagenet', 'train')):
        print(f'error: --data-root {args.data_root} has no imagenet/train: point it at a demo\'s data folder or '
              f'leave it out', file=sys.stderr)
        return 2
    if not args.data_root:
        try:
            make_curve_data(data_root, args.world, args.train_per_class)
        except InputError as err:
            print(f'error: {err}', file=sys.stderr)
            return 2
    rows = learning_curve(args.method, args.out, data_root, args.iterations, args.batch_size, args.every,
                          options=args.cfg_options)
    write_text_atomically(osp.join(args.out, f'curve_{args.method}.json'), json.dumps(rows, indent=2))
    print(to_markdown(rows))
    return 0


if __name__ == '__main__':
    sys.exit(main())
