"""The training and test programs (siameseim.cli.train / .test) and the robustness tools end bad inputs with one
``error:`` line and a non-zero exit, no traceback."""
import glob
import os
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from siameseim.cli import test as test_tool
from siameseim.cli import train as train_tool
from siameseim.cli_checks import check_cfg_options
from siameseim.errors import InputError
from siameseim.robustness.cli import benchmark_eval, eval_robustness
from siameseim.segmentation.toy import make_ade20k_toy

from checkout import REPO_ROOT

ROOT = REPO_ROOT
FT = osp.join(ROOT, 'robustness', 'configs', 'vit-tiny_ft-4e_toy.py')
ADE = osp.join(ROOT, 'segmentation', 'configs', 'upernet_vit-tiny_ade20k-64x64_toy.py')


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert err and (err[-1].startswith('error: ') or ': error: ' in err[-1]), err  # ours, or argparse's usage error
    assert 'Traceback' not in '\n'.join(err)
    return err[-1]


@pytest.mark.parametrize('options,message', [
    (['optim_wraper.optimizer.lr=0.1'], 'no section optim_wraper (did you mean optim_wrapper?)'),
    (['train_cfg.max_epoch=3'], 'no max_epoch (did you mean max_epochs?)'),
    (['optim_wrapper.optimizer.lr=abc'], 'optim_wrapper.optimizer.lr=abc: expects a number'),
    (['train_cfg.max_epochs=-3'], 'train_cfg.max_epochs=-3 must be a positive integer'),
    (['train_dataloader.batch_size=0'], 'train_dataloader.batch_size=0 must be a positive integer'),
])
def test_bad_cfg_options_are_one_line(options, message, tmp_path, capsys):
    assert train_tool.main([FT, '--work-dir', str(tmp_path / 'work'), '--cfg-options', *options]) == 2
    assert message in one_error_line(capsys)


def test_cfg_option_without_equals_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_tool.main([FT, '--work-dir', str(tmp_path), '--cfg-options', 'train_cfg.max_epochs'])
    assert exit_info.value.code == 2
    assert "'train_cfg.max_epochs' has no \"=\": write key=value" in one_error_line(capsys)


def test_valid_cfg_options_pass_the_checks():
    from mmengine.config import Config
    cfg = Config.fromfile(FT)
    check_cfg_options(cfg, {'optim_wrapper.optimizer.lr': 1, 'train_cfg.max_epochs': 2, 'load_from': 'x.pth',
                            'train_dataloader.dataset.check_images': False, 'param_scheduler.0.end': 1,
                            'model.backbone.pretrained': None})
    with pytest.raises(InputError, match='param_scheduler.9.end: 9 is not an index of a list of'):
        check_cfg_options(cfg, {'param_scheduler.9.end': 1})


def test_unusable_work_dir_and_out_are_one_line(tmp_path, capsys):
    afile = tmp_path / 'afile'
    afile.write_text('x')
    assert train_tool.main([FT, '--work-dir', str(afile)]) == 2
    assert '--work-dir' in one_error_line(capsys)
    assert train_tool.main([FT, '--work-dir', str(afile / 'sub')]) == 2
    assert 'cannot be created' in one_error_line(capsys)
    checkpoint = tmp_path / 'ckpt.pth'
    checkpoint.write_bytes(b'x')
    assert test_tool.main([FT, str(checkpoint), '--work-dir', str(afile)]) == 2
    assert 'is a file, not a folder' in one_error_line(capsys)
    assert test_tool.main([FT, str(checkpoint), '--work-dir', str(tmp_path / 'w'), '--out', str(tmp_path)]) == 2
    assert 'is a folder: give a file path' in one_error_line(capsys)
    assert test_tool.main([FT, str(checkpoint), '--work-dir', str(tmp_path / 'w'),
                           '--out', str(afile / 'm.json')]) == 2
    assert 'is a file, not a folder' in one_error_line(capsys)


def test_directory_as_checkpoint_says_it_is_a_directory(tmp_path, capsys):
    assert test_tool.main([FT, str(tmp_path)]) == 2
    assert f'checkpoint {tmp_path} is a directory' in one_error_line(capsys)


@pytest.mark.parametrize('workers', [0, 1])
def test_ade20k_label_out_of_range_names_the_file(workers, tmp_path, capsys):
    data_root = str(tmp_path / 'ade')
    make_ade20k_toy(data_root, num_train=2, num_val=1)
    bad = sorted(glob.glob(osp.join(data_root, 'annotations', 'training', '*.png')))[0]
    label = np.asarray(Image.open(bad)).copy()
    label[:] = 200
    Image.fromarray(label).save(bad)
    options = [f'train_dataloader.dataset.data_root={data_root}', f'val_dataloader.dataset.data_root={data_root}',
               f'test_dataloader.dataset.data_root={data_root}', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
               'param_scheduler.0.end=1', 'param_scheduler.1.begin=1', 'param_scheduler.1.end=2',
               f'train_dataloader.num_workers={workers}']  # 1: the error is re-raised from a worker process
    assert train_tool.main([ADE, '--work-dir', str(tmp_path / 'work'), '--cfg-options', *options]) == 2
    line = one_error_line(capsys)
    assert line == (f'error: annotation {bad} holds label 200, past the 150 classes (valid values 0-150 '
                    f'(0 = unlabelled), 255 = ignore): fix or remove the file')
    assert not os.path.exists(osp.join(str(tmp_path / 'work'), 'iter_2.pth'))


@pytest.mark.parametrize('module,argv', [(eval_robustness, ['ckpt.pth', '--out', 'out', '--input-size', '0']),
                                         (benchmark_eval, ['--input-size', '0']),
                                         (benchmark_eval, ['--batch-size', '-1'])])
def test_non_positive_sizes_are_usage_errors(module, argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        module.parse_args(argv)
    assert exit_info.value.code == 2
    assert 'is not a positive integer' in one_error_line(capsys)
