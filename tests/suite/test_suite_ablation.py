"""The suite's entries of the ablation (docs/ablation.md): the short COCO schedule, MoCo-v3 and ablation rows as
toy pretraining methods, and the ablation table beside the paper."""
import pytest

from siameseim.pretrain.ablation import ROWS, config_switches
from siameseim.suite.ablation_table import ablation_markdown, checkpoint_name
from siameseim.suite.cli import build_parser
from siameseim.suite.demo import DEMO_METHODS, method_config, method_label
from siameseim.benchmark import SuiteCheckpoint, SuiteContext
from siameseim.suite.tasks import build_tasks


def context(tmp_path, **extra):
    return SuiteContext(out_dir=str(tmp_path), data_root='/datasets', log=lambda line: None, extra=extra)


def test_coco_schedule_is_selectable_and_the_short_one_is_a_quarter(tmp_path):
    (coco, ) = build_tasks(['coco'])
    checkpoint = SuiteCheckpoint('row-i', '/ckpt/row-i.pth', 'vit-b')
    full = coco.config(checkpoint, context(tmp_path))
    short = coco.config(checkpoint, context(tmp_path, detection_schedule='25e'))
    assert full.train_cfg.max_iters == 184375 and short.train_cfg.max_iters == 46094
    assert [m / short.train_cfg.max_iters for m in short.param_scheduler[1].milestones] == pytest.approx(
        [m / full.train_cfg.max_iters for m in full.param_scheduler[1].milestones], abs=1e-4)
    assert short.model.backbone.pretrained == '/ckpt/row-i.pth'
    assert short.model == full.model and short.optim_wrapper == full.optim_wrapper
    with pytest.raises(ValueError, match='no 25e detection config for arch vit-l'):
        coco.config(SuiteCheckpoint('large', None, 'vit-l'), context(tmp_path, detection_schedule='25e'))
    (lvis, ) = build_tasks(['lvis'])
    lvis_full = lvis.config(checkpoint, context(tmp_path)).train_cfg.max_iters
    assert lvis.config(checkpoint, context(tmp_path, detection_schedule='25e')).train_cfg.max_iters == lvis_full


def test_cli_options_of_the_ablation():
    parser = build_parser()
    assert parser.parse_args(['bench', '--checkpoint', 'a=x.pth']).detection_schedule == '100e'
    args = parser.parse_args(['ablation'])
    assert args.rows == ['a', 'g', 'i'] and args.baselines == [] and 'coco' in args.tasks
    assert parser.parse_args(['demo']).methods == list(DEMO_METHODS) == ['siameseim', 'mae']
    assert parser.parse_args(['demo', '--methods', 'siameseim', 'mae', 'mocov3']).methods[-1] == 'mocov3'
    with pytest.raises(SystemExit):
        parser.parse_args(['ablation', '--rows', 'z'])


def test_toy_methods_cover_mocov3_and_every_ablation_row():
    assert method_config('mocov3', '/images').model.type == 'MoCoV3'
    assert method_label('mocov3') == 'MoCo-v3' and method_label('row-g') == 'ablation row (g)'
    for row, spec in ROWS.items():
        cfg = method_config(f'row-{row}', '/images')
        assert config_switches(cfg) == spec.switches
        assert cfg.train_dataloader.dataset.root == '/images' and cfg.model.encoder.img_size == 64
    with pytest.raises(ValueError, match='unknown pretraining method'):
        method_config('simclr', '/images')


def test_ablation_table_puts_the_measured_values_beside_the_papers():
    results = {'checkpoints': {checkpoint_name('i'): {'tasks': {
        'linear': {'metrics': {'top1': 41.25}}, 'coco': {'metrics': {'bbox_AP': 3.0, 'segm_AP': 2.5}}}}}}
    lines = ablation_markdown(results, ['i', 'a']).splitlines()
    assert lines[0].startswith('| row | target | views |') and 'FT measured (paper)' in lines[0]
    assert lines[2] == ('| (i) | feature | different | ✓ | blockwise | BN | MAE-like | dense | UniGrad | – (83.7) | '
                        '41.2 (76.8) | 3.0 (49.8) | 2.5 (44.2) |')
    assert lines[3].startswith('| (a) | pixel | same | – | random | LN | MAE-like | dense | L2 | – (82.8) |')
