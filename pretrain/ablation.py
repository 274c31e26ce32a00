"""The paper's ablation (docs/ablation.md): each row as a setting of eight switches, its published ViT-B/16
numbers, reading a config's switches back, and shrinking a row's config to the CPU toy scale.

Model switches are arguments of :class:`~siameseim.pretrain.models.SiameseIM`; data switches are arguments of
the two-view transform (``views``, ``color_aug``) and the type of the dataset's mask generator. The configs under
``pretrain/configs/ablation/`` set them; :func:`config_switches` reads them back so tests can check every row
config against :data:`ROWS`.
"""
import copy
import glob
import os.path as osp
from typing import Dict, NamedTuple, Union

from mmengine.config import Config

SWITCH_NAMES = ('target', 'views', 'color_aug', 'mask', 'norm', 'head', 'loss_form', 'loss')
ABLATION_CONFIG_DIR = osp.join(osp.dirname(osp.abspath(__file__)), 'configs', 'ablation')
TOY_CONFIG = osp.join(osp.dirname(osp.abspath(__file__)), 'configs', 'siameseim_vit-tiny-p16_1xb8-20e_toy.py')


class AblationRow(NamedTuple):
    """One row: its letter, what it is, its switches and the paper's ViT-B/16 numbers (column headers of the
    suite's table: FT, LIN, COCO AP^box, COCO AP^mask)."""
    row: str
    summary: str
    switches: Dict[str, Union[str, bool]]
    paper: Dict[str, float]


def _switches(target: str, views: str, color_aug: bool, mask: str, norm: str, head: str, loss_form: str,
              loss: str) -> Dict[str, Union[str, bool]]:
    return dict(zip(SWITCH_NAMES, (target, views, color_aug, mask, norm, head, loss_form, loss)))


def _paper(ft: float, lin: float, box: float, mask: float) -> Dict[str, float]:
    return {'FT': ft, 'LIN': lin, 'COCO AP^box': box, 'COCO AP^mask': mask}


ROWS: Dict[str, AblationRow] = {
    row.row: row
    for row in (
        AblationRow('a', 'MAE: pixels of the same view', _switches('pixel', 'same', False, 'random', 'ln', 'mae',
                                                                   'dense', 'l2'), _paper(82.8, 62.3, 47.3, 42.5)),
        AblationRow('b', 'momentum features of the same view, MoCo-like heads',
                    _switches('feature', 'same', False, 'random', 'ln', 'moco', 'dense', 'unigrad'),
                    _paper(81.0, 48.7, 43.5, 39.2)),
        AblationRow('c', '(a) + colour augmentation', _switches('pixel', 'same', True, 'random', 'ln', 'mae', 'dense',
                                                                'l2'), _paper(82.0, 59.9, 46.3, 41.8)),
        AblationRow('d', '(a) + different views', _switches('pixel', 'different', False, 'random', 'ln', 'mae',
                                                             'dense', 'l2'), _paper(78.7, 46.2, 38.1, 34.8)),
        AblationRow('e', '(b) + different views', _switches('feature', 'different', False, 'random', 'ln', 'moco',
                                                             'dense', 'unigrad'), _paper(82.9, 69.6, 48.5, 43.4)),
        AblationRow('f', '(e) + colour augmentation', _switches('feature', 'different', True, 'random', 'ln', 'moco',
                                                                 'dense', 'unigrad'), _paper(83.0, 73.1, 47.9, 43.2)),
        AblationRow('g', '(f) with batch norm in projector and predictor',
                    _switches('feature', 'different', True, 'random', 'bn', 'moco', 'dense', 'unigrad'),
                    _paper(83.2, 73.6, 48.7, 43.7)),
        AblationRow('h', '(g) with block-wise masks', _switches('feature', 'different', True, 'blockwise', 'bn',
                                                                 'moco', 'dense', 'unigrad'),
                    _paper(83.5, 74.7, 50.0, 44.5)),
        AblationRow('i', 'SiameseIM: (h) with the MAE-like projector/decoder',
                    _switches('feature', 'different', True, 'blockwise', 'bn', 'mae', 'dense', 'unigrad'),
                    _paper(83.7, 76.8, 49.8, 44.2)),
        AblationRow('j', '(i) with the L2 loss', _switches('feature', 'different', True, 'blockwise', 'bn', 'mae',
                                                            'dense', 'l2'), _paper(83.3, 76.5, 49.8, 44.2)),
        AblationRow('k', '(g) with the global loss', _switches('feature', 'different', True, 'random', 'bn', 'moco',
                                                                'global', 'unigrad'), _paper(82.7, 72.0, 45.9, 41.4)),
    )
}


def row_config_path(row: str) -> str:
    """The config file of ``row`` (``pretrain/configs/ablation/<row>_*.py``)."""
    if row not in ROWS:
        raise ValueError(f'unknown ablation row {row!r}: choose one of {", ".join(ROWS)}')
    matches = sorted(glob.glob(osp.join(ABLATION_CONFIG_DIR, f'{row}_*.py')))
    if len(matches) != 1:
        raise FileNotFoundError(f'expected one config for ablation row {row} in {ABLATION_CONFIG_DIR}, '
                                f'found {len(matches)}')
    return matches[0]


def config_switches(cfg: Config) -> Dict[str, Union[str, bool]]:
    """The eight switches a pretraining config sets (defaults are the released SiameseIM's)."""
    model = cfg.model
    dataset = cfg.train_dataloader.dataset
    transform = dataset.transform
    norms = {model.get('projector_norm', 'bn'), model.get('predictor_norm', 'bn')}
    generator = dataset.get('mask_generator') or {}
    return dict(
        target=model.get('target', 'feature'),
        views=transform.get('views', 'different'),
        color_aug=transform.get('color_aug', True),
        mask='random' if generator.get('type') == 'RandomMaskGenerator' else 'blockwise',
        norm=norms.pop() if len(norms) == 1 else 'mixed',
        head=model.get('head', 'mae'),
        loss_form=model.get('loss_form', 'dense'),
        loss=model.get('loss', 'unigrad'),
    )


# The toy scale (docs/ablation.md): 64-pixel inputs in a 4×4 patch grid, a 2-block 64-wide encoder. Masks keep
# each kind's ratio: block-wise 10 of 16 (SiameseIM's toy config), random 12 of 16 (MAE's 75 %).
TOY_ENCODER = dict(arch=None, embed_dim=64, depth=2, num_heads=4, img_size=64)
TOY_MASKS = dict(BlockMaskGenerator=dict(input_size=4, num_masking_patches=10, min_num_patches=2),
                 RandomMaskGenerator=dict(input_size=4, num_masking_patches=12))
TOY_RUNTIME_KEYS = ('optim_wrapper', 'auto_scale_lr', 'param_scheduler', 'train_cfg', 'env_cfg', 'default_hooks',
                    'vis_backends', 'visualizer')


def tiny_config(cfg: Config, data_root: str) -> Config:
    """``cfg`` (an ablation row or any SiameseIM config) at the toy scale of the tiny SiameseIM config, on the
    images under ``data_root``: same switches, toy widths, masks and runtime (20 epochs, fp32, gloo)."""
    cfg = copy.deepcopy(cfg)
    toy = Config.fromfile(TOY_CONFIG)
    model = cfg.model
    model.encoder.update(TOY_ENCODER)
    model.update(decoder_dim=64, decoder_num_heads=4, mlp_hidden_dim=128)
    if model.get('head', 'mae') == 'mae':
        model.update(projector_depth=1, predictor_depth=1)
    loader = cfg.train_dataloader
    loader.update(batch_size=8, num_workers=0, persistent_workers=False, pin_memory=False)
    loader.dataset.root = data_root
    loader.dataset.transform.input_size = 64
    generator = loader.dataset.get('mask_generator')
    if generator:
        kind = generator.get('type', 'BlockMaskGenerator')
        loader.dataset.mask_generator = dict(type=kind, **TOY_MASKS[kind])
    for key in TOY_RUNTIME_KEYS:
        cfg[key] = copy.deepcopy(toy[key])
    return cfg
