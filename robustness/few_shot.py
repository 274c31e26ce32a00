"""1 % ImageNet few-shot evaluation: multinomial logistic regression on frozen features (docs/method.md §5.3).

Protocol (SiameseIM/MSN ``main_logistic.py``): feature = cls token of the last block output, no final norm;
images Resize(256, bilinear) → CenterCrop 224; train on the SimCLR 1 % subset (12,811 ``<wnid>_<n>.JPEG``
names, path ``train/<wnid>/<file>``), test on the full val set. Both feature matrices are centred per row
and L2-normalised; the classifier (no bias) minimises ``(1/n) Σ CE(y_i, Wᵀx_i) + (λ/2)‖W‖²`` with
``λ = lambd / n`` (``lambd`` 0.1 for ViT-B, 0.01 for ViT-L).

Solvers: ``cyanure`` (the official one, with the official settings: solver auto, tol 1e-3, 300 epochs, seed 0)
when it is installed, otherwise full-batch L-BFGS in torch (fp64, strong-Wolfe line search) on the same
objective; the two agree to the solver tolerance (tested). As in cyanure, the classifier covers the classes
present in the training set. The SimCLR 1 % list ships as package data (:data:`SIMCLR_1PERCENT`)::

    python -m siameseim.robustness.few_shot CHECKPOINT --data-root data/imagenet [--subset-file LIST] \
        [--arch vit-b] [--lambd 0.1] [--solver auto|cyanure|lbfgs] [--cache DIR] [--out DIR]
"""
import argparse
import hashlib
import importlib.util
import json
import multiprocessing
import os
import pickle
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from siameseim.checkpoint import CheckpointError, load_pretrained
from siameseim.models import ViT
from siameseim.models.vit import resolve_arch

from siameseim.errors import error_line
from .datasets import CorruptImageError, scan_wnid_folder
from .labels import imagenet_1k_index
from .loading import iterate_batches
from .transforms import EvalTransform

SUBSET_NAME = re.compile(r'^(n\d{8})_\d+\.JPEG$')
SIMCLR_1PERCENT = os.path.join(os.path.dirname(__file__), 'data', 'imagenet_1percent.txt')
SOLVERS = ('auto', 'cyanure', 'lbfgs')
DEFAULT_TOL = {'cyanure': 1e-3, 'lbfgs': 1e-6}  # relative duality gap (official value); gradient norm
SOLVER_NAMES = {'cyanure': 'multinomial logistic regression, cyanure (tol 1e-3, 300 epochs)',
                'lbfgs': 'full-batch multinomial logistic regression, L-BFGS (torch, fp64)'}
DEFAULT_LAMBD = {768: 0.1, 1024: 0.01}  # by width: ViT-B, ViT-L (docs/method.md §5.3); others use 0.1


def default_lambd(arch: str) -> float:
    """The published regularisation for ``arch`` (any alias ``resolve_arch`` accepts)."""
    return DEFAULT_LAMBD.get(resolve_arch(arch)['embed_dim'], 0.1)


def load_subset_file(path: str) -> List[str]:
    """File names of a SimCLR-style subset list (one ``<wnid>_<n>.JPEG`` per line or whitespace-separated)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'subset file {path} does not exist: pass an existing list with --subset-file '
                                f'(the default is the shipped SimCLR 1 % list)')
    with open(path) as f:
        names = f.read().split()
    bad = [name for name in names if not SUBSET_NAME.match(name)]
    if not names or bad:
        raise ValueError(f'{path}: expected lines like n01440764_10026.JPEG, got '
                         f'{bad[:3] if bad else "an empty file"}: pass the SimCLR 1percent.txt list')
    return names


def subset_samples(train_root: str, names: Sequence[str]) -> List[Tuple[str, int]]:
    """``(train/<wnid>/<name>, 1k label)`` of every name, failing with the first missing files listed."""
    index = imagenet_1k_index()
    samples, missing = [], []
    for name in names:
        wnid = SUBSET_NAME.match(name).group(1)
        if wnid not in index:
            raise ValueError(f'{name}: {wnid} is not an ImageNet-1k wnid: the subset file is not an ImageNet list')
        path = os.path.join(train_root, wnid, name)
        (samples if os.path.isfile(path) else missing).append((path, index[wnid]))
    if missing:
        raise FileNotFoundError(f'{len(missing)} subset images are missing from {train_root}, e.g. '
                                f'{missing[0][0]}: point --data-root at the ImageNet folder holding train/<wnid>/')
    return samples


def build_feature_model(checkpoint: Optional[str], arch: Union[str, dict] = 'vit-b',
                        trust_pickle: bool = False) -> ViT:
    """The pretrained encoder without final norm or head (drop path 0), in eval mode.

    ``arch`` is a preset name or the backbone's keyword arguments; ``checkpoint=None`` keeps the random init
    (the baseline row of a comparison).
    """
    backbone = dict(arch) if isinstance(arch, dict) else dict(arch=arch)
    model = ViT(**backbone, final_norm=False, global_pool=None)
    if checkpoint is not None:
        load_pretrained(model, checkpoint, trust_pickle=trust_pickle)
    return model.eval()


@torch.no_grad()
def extract_features(model: nn.Module, samples: Sequence[Tuple[str, int]], *, device: str = 'cpu',
                     batch_size: int = 64, num_workers: int = 8, crop_size: int = 224,
                     resize: int = 256) -> Tuple[torch.Tensor, torch.Tensor]:
    """Cls token of the last block output (``forward_features``, no norm) and labels, on the CPU in fp32."""
    transform = EvalTransform(crop_size=crop_size, resize=resize, interpolation='bilinear')
    device = torch.device(device)
    model = model.to(device)
    features, labels = [], []
    for images, targets in iterate_batches(samples, transform, device=device, batch_size=batch_size,
                                           num_workers=num_workers):
        features.append(model.forward_features(images)[:, 0].float().cpu())
        labels.append(targets.cpu())
    return torch.cat(features), torch.cat(labels)


def preprocess(features: torch.Tensor) -> torch.Tensor:
    """cyanure ``preprocess`` on rows: subtract each row's mean, then L2-normalise it."""
    centred = features - features.mean(dim=1, keepdim=True)
    return F.normalize(centred, dim=1)


def logistic_objective(weight: torch.Tensor, features: torch.Tensor, labels: torch.Tensor,
                       lam: float) -> torch.Tensor:
    """``(1/n) Σ CE(y_i, Wᵀx_i) + (λ/2)‖W‖²_F`` for ``weight [D, C]``."""
    return F.cross_entropy(features @ weight, labels) + 0.5 * lam * weight.pow(2).sum()


class LinearClassifier(NamedTuple):
    """Weights ``[D, K]`` of a bias-free multinomial classifier over the ``K`` ``classes`` seen in training."""

    weight: torch.Tensor
    classes: torch.Tensor

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """Class labels (in the original label space) of ``features [N, D]``."""
        return self.classes[(features.to(self.weight.dtype) @ self.weight).argmax(1)]


def resolve_solver(solver: str, num_classes: Optional[int] = None) -> str:
    """``auto`` → ``cyanure`` when it is installed (and, as its multinomial loss needs, ≥ 3 classes), else ``lbfgs``.

    An unknown solver, or ``cyanure`` where it is missing or cannot apply, is an error.
    """
    if solver not in SOLVERS:
        raise ValueError(f'unknown solver {solver!r}: use one of {", ".join(SOLVERS)}')
    installed = importlib.util.find_spec('cyanure') is not None
    applicable = num_classes is None or num_classes >= 3
    if solver == 'auto':
        return 'cyanure' if installed and applicable else 'lbfgs'
    if solver == 'cyanure' and not installed:
        raise ValueError("solver 'cyanure' is not installed: pip install cyanure, or use --solver lbfgs")
    if solver == 'cyanure' and not applicable:
        raise ValueError(f"solver 'cyanure' needs at least 3 classes, the training set has {num_classes}: "
                         f"use --solver lbfgs")
    return solver


def fit_lbfgs(features: torch.Tensor, targets: torch.Tensor, num_classes: int, lam: float,
              max_iter: int = 1000, tol: float = DEFAULT_TOL['lbfgs']) -> torch.Tensor:
    """Weights ``[D, num_classes]`` minimising :func:`logistic_objective` (full-batch L-BFGS, fp64)."""
    x, y = features.double(), targets.long()
    weight = torch.zeros(x.shape[1], num_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight], lr=1, max_iter=max_iter, history_size=20, tolerance_grad=tol,
                                  tolerance_change=1e-12, line_search_fn='strong_wolfe')

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = logistic_objective(weight, x, y, lam)
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach()


def _cyanure_weights(features: np.ndarray, targets: np.ndarray, lam: float, tol: float,
                     max_epochs: int) -> np.ndarray:
    from cyanure.estimators import Classifier
    classifier = Classifier(loss='multiclass-logistic', penalty='l2', fit_intercept=False, lambda_1=lam, tol=tol,
                            max_iter=max_epochs, solver='auto', random_state=0, duality_gap_interval=10,
                            n_threads=-1, verbose=False)
    classifier.fit(features, targets)
    return classifier.coef_.reshape(features.shape[1], -1)


def fit_cyanure(features: torch.Tensor, targets: torch.Tensor, lam: float, tol: float = DEFAULT_TOL['cyanure'],
                max_epochs: int = 300) -> torch.Tensor:
    """The same minimiser by cyanure with the official settings (docs/method.md §5.3 item 6), as ``[D, K]`` fp64.

    cyanure runs in a child process: it brings its own OpenMP and OpenBLAS runtimes, and with them loaded
    beside torch's a later oneDNN convolution backward in the same process was seen to deadlock.
    """
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context('spawn')) as pool:
        weights = pool.submit(_cyanure_weights, features.double().numpy(), targets.numpy(), lam, tol,
                              max_epochs).result()
    return torch.from_numpy(weights)


def fit_logistic_regression(features: torch.Tensor, labels: torch.Tensor, lambd: float = 0.1,
                            solver: str = 'auto', tol: Optional[float] = None) -> LinearClassifier:
    """Minimise :func:`logistic_objective` at ``λ = lambd / n`` over the classes present in ``labels``.

    ``tol`` is the solver's own stopping tolerance (default :data:`DEFAULT_TOL`).
    """
    classes, targets = labels.long().unique(return_inverse=True)
    solver = resolve_solver(solver, len(classes))
    tol = DEFAULT_TOL[solver] if tol is None else tol
    lam = lambd / len(features)
    if solver == 'cyanure':
        weight = fit_cyanure(features, targets, lam, tol=tol)
    else:
        weight = fit_lbfgs(features, targets, len(classes), lam, tol=tol)
    return LinearClassifier(weight, classes)


def accuracy(classifier: LinearClassifier, features: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy (%) of the linear classifier."""
    return 100.0 * float((classifier.predict(features) == labels).double().mean())


def weights_digest(model: nn.Module) -> str:
    """sha256 of the model's state dict (names and bytes)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def features_fingerprint(weights: str, samples: Sequence[Tuple[str, int]], crop_size: int, resize: int) -> str:
    """sha256 of what the features depend on: the weights' digest, the images and labels, the input size."""
    digest = hashlib.sha256(f'{weights}/{crop_size}/{resize}'.encode())
    for path, label in samples:
        digest.update(f'{path}\t{label}\n'.encode())
    return digest.hexdigest()


def cached_features(model: nn.Module, samples: Sequence[Tuple[str, int]], cache: Optional[str], *,
                    weights: Optional[str] = None, crop_size: int = 224, resize: int = 256,
                    **loader_options) -> Tuple[torch.Tensor, torch.Tensor]:
    """:func:`extract_features`, kept in the file ``cache`` and reused while the fingerprint matches.

    ``weights`` is the model's :func:`weights_digest` when the caller already has it (one per model, however
    many sample sets).
    """
    if cache is None:
        return extract_features(model, samples, crop_size=crop_size, resize=resize, **loader_options)
    fingerprint = features_fingerprint(weights or weights_digest(model), samples, crop_size, resize)
    if os.path.isfile(cache):
        try:
            stored = torch.load(cache, map_location='cpu', weights_only=True)
        except (EOFError, OSError, RuntimeError, pickle.UnpicklingError) as err:
            print(f'cannot read the feature cache {cache} ({type(err).__name__}): extracting again, it will be '
                  f'replaced', flush=True)
            stored = None
        if isinstance(stored, dict) and stored.get('fingerprint') == fingerprint:
            print(f'reusing the features of {len(samples)} images from {cache}', flush=True)
            return stored['features'], stored['labels']
    features, labels = extract_features(model, samples, crop_size=crop_size, resize=resize, **loader_options)
    os.makedirs(os.path.dirname(os.path.abspath(cache)), exist_ok=True)
    torch.save(dict(fingerprint=fingerprint, features=features, labels=labels), f'{cache}.tmp')
    os.replace(f'{cache}.tmp', cache)
    return features, labels


def few_shot_eval(model: nn.Module, train_samples: Sequence[Tuple[str, int]], val_samples: Sequence[Tuple[str, int]],
                  lambd: float = 0.1, solver: str = 'auto', cache_dir: Optional[str] = None,
                  **loader_options) -> Dict[str, float]:
    """Extract, preprocess, fit on ``train_samples``, score on ``val_samples``.

    With ``cache_dir``, the features are kept there (``features_{train,val}.pt``) and a rerun with the same
    weights, images and input size (another ``lambd`` or solver, say) skips the extraction.
    """
    solver = resolve_solver(solver, len({label for _, label in train_samples}))

    weights = None if cache_dir is None else weights_digest(model)

    def cache(split: str) -> Optional[str]:
        return None if cache_dir is None else os.path.join(cache_dir, f'features_{split}.pt')

    train_x, train_y = cached_features(model, train_samples, cache('train'), weights=weights, **loader_options)
    val_x, val_y = cached_features(model, val_samples, cache('val'), weights=weights, **loader_options)
    classifier = fit_logistic_regression(preprocess(train_x), train_y, lambd=lambd, solver=solver)
    return dict(top1=accuracy(classifier, preprocess(val_x), val_y), train_images=len(train_y),
                val_images=len(val_y), lambd=lambd, solver=SOLVER_NAMES[solver])


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description='1 % ImageNet few-shot logistic regression on frozen features')
    parser.add_argument('checkpoint', help='pretrained checkpoint (SiameseIM, MAE, MoCo-v3, BEiT, timm, ...)')
    parser.add_argument('--data-root', default='data/imagenet', help='ImageNet folder with train/ and val/')
    parser.add_argument('--subset-file', default=SIMCLR_1PERCENT,
                        help="training list (default: the shipped SimCLR imagenet_subsets/1percent.txt)")
    parser.add_argument('--arch', default='vit-b')
    parser.add_argument('--lambd', type=float, help='regularisation (default 0.1 ViT-B, 0.01 ViT-L)')
    parser.add_argument('--solver', default='auto', choices=SOLVERS,
                        help='cyanure (official), lbfgs (torch), or auto: cyanure when installed')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--workers', type=int, default=min(8, os.cpu_count() or 1))
    parser.add_argument('--input-size', type=int, default=224)
    parser.add_argument('--out', help='write few_shot.json here')
    parser.add_argument('--cache', help='keep the extracted features here and reuse them on a rerun with the same '
                                        'checkpoint, images and input size (e.g. to try another --lambd)')
    args = parser.parse_args(argv)
    try:
        lambd = args.lambd if args.lambd is not None else default_lambd(args.arch)
        train = subset_samples(os.path.join(args.data_root, 'train'), load_subset_file(args.subset_file))
        val = scan_wnid_folder(os.path.join(args.data_root, 'val'))
        model = build_feature_model(args.checkpoint, args.arch)
        result = few_shot_eval(model, train, val, lambd=lambd, solver=args.solver, cache_dir=args.cache,
                               device=args.device, batch_size=args.batch_size, num_workers=args.workers,
                               crop_size=args.input_size, resize=round(args.input_size * 256 / 224))
    except (CheckpointError, CorruptImageError, FileNotFoundError, ValueError) as err:
        print(f'error: {error_line(err)}', file=sys.stderr)
        return 1
    print(f'1% few-shot top-1: {result["top1"]:.2f} ({result["train_images"]} train / {result["val_images"]} val '
          f'images, lambd {lambd}, {result["solver"]})')
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, 'few_shot.json'), 'w') as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
