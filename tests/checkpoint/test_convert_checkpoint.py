"""siameseim.cli.convert_checkpoint (tools/convert_checkpoint.py): every format converts and validates; bad input
gives one error line, exit 2, no file."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from checkpoint_formats import CASES, VIT_SIZES, images, outputs, timm_vit, write_bad_file
from resize_oracles import bicubic_resize

from siameseim.checkpoint import SUITE_FORMAT, load_pretrained, read_checkpoint
from siameseim.cli import convert_checkpoint
from siameseim.models.vit import ViT

from checkout import REPO_ROOT

REPO = Path(REPO_ROOT)
SCRIPT = REPO / 'tools' / 'convert_checkpoint.py'


def run(capsys, *argv):
    code = convert_checkpoint.main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return code, out, err


def save(tmp_path, obj, name='source.pth'):
    path = tmp_path / name
    torch.save(obj, path)
    return path


def assert_failed_cleanly(code, err, folder, output, pattern):
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), err
    assert pattern in lines[0], lines[0]
    assert not output.exists()
    assert not [name for name in os.listdir(folder) if name.endswith('.tmp')]


@pytest.mark.parametrize('name', list(CASES))
def test_every_format_converts_validates_and_reloads(name, tmp_path, capsys):
    case = CASES[name]()
    output = tmp_path / 'converted.pth'
    flags = ['--keep-head'] * case.keep_head + ['--target-encoder'] * case.use_target_encoder
    code, out, err = run(capsys, save(tmp_path, case.checkpoint), output, *flags)
    assert code == 0 and err == '', err
    assert f'format: {case.format}' in out and 'missing: 0 (0 expected)' in out
    assert out.splitlines()[-1].startswith(f'wrote {output}: ')

    meta = read_checkpoint(output)['meta']
    source_format = case.checkpoint['meta']['source_format'] if case.format == SUITE_FORMAT else case.format
    assert (meta['format'], meta['version'], meta['source_format']) == (SUITE_FORMAT, 1, source_format)
    assert meta['pos_embed_convention'] == case.pos_embed_convention
    vit = ViT(**{**VIT_SIZES, **case.vit_kwargs}).eval()
    assert load_pretrained(vit, output, keep_head=case.keep_head, strict=True).format == SUITE_FORMAT
    x = images()
    torch.testing.assert_close(outputs(vit, x, case.keep_head), outputs(case.oracle, x, case.keep_head),
                               atol=1e-5, rtol=0)


def test_img_size_resizes_pos_embed_in_the_output(tmp_path, capsys):
    case = CASES['deit']()
    output = tmp_path / 'converted.pth'
    code, out, _ = run(capsys, save(tmp_path, case.checkpoint), output, '--img-size', 48)
    assert code == 0 and 'pos_embed: [1, 17, 192] -> [1, 37, 192]' in out
    converted = read_checkpoint(output)
    assert converted['meta']['arch']['pos_embed_grid'] == (6, 6)
    table = case.checkpoint['model']['pos_embed']
    expected = torch.cat([table[:, :1], bicubic_resize(table[:, 1:], (4, 4), (6, 6))], 1)
    torch.testing.assert_close(converted['state_dict']['pos_embed'], expected, atol=1e-5, rtol=1e-5)
    report = load_pretrained(ViT(**{**VIT_SIZES, 'img_size': 48, 'pos_embed': 'learned'}), output, strict=True)
    assert not report.resized


def test_img_size_resizes_beit_tables_in_the_output(tmp_path, capsys):
    output = tmp_path / 'converted.pth'
    code, out, _ = run(capsys, save(tmp_path, CASES['beit-shared']().checkpoint), output, '--img-size', 48)
    assert code == 0 and 'blocks.*.attn.relative_position_bias_table: [52, 3] -> [124, 3]' in out
    assert read_checkpoint(output)['state_dict']['blocks.1.attn.relative_position_bias_table'].shape == (124, 3)


def test_width_without_preset_needs_num_heads(tmp_path, capsys):
    source = save(tmp_path, {'model': timm_vit(0, embed_dim=96, num_heads=4).state_dict()})
    output = tmp_path / 'converted.pth'
    code, _, err = run(capsys, source, output)
    assert_failed_cleanly(code, err, tmp_path, output, 'cannot infer the number of heads of a width-96 ViT')
    code, out, _ = run(capsys, source, output, '--num-heads', 4)
    assert code == 0 and read_checkpoint(output)['meta']['arch']['num_heads'] == 4


def test_trust_pickle_converts_with_one_warning_line(tmp_path, capsys):
    import datetime

    source = save(tmp_path, {'model': timm_vit(0).state_dict(), 'saved_at': datetime.datetime(2024, 1, 1)})
    output = tmp_path / 'converted.pth'
    code, _, err = run(capsys, source, output)
    assert_failed_cleanly(code, err, tmp_path, output, '--trust-pickle')
    code, _, err = run(capsys, source, output, '--trust-pickle')
    assert code == 0 and len(err.splitlines()) == 1 and err.startswith('warning: ')


BAD_INPUTS = {
    'missing': ([], 'no such file'),
    'empty': ([], 'is empty'),
    'truncated': ([], 'is truncated or corrupted'),
    'text': ([], 'is not a PyTorch checkpoint'),
    'plain-pickle': ([], 'is a plain pickle'),
    'list': ([], 'holds a list, not a checkpoint'),
    'resnet': ([], 'not a ViT checkpoint'),
    'arch-mismatch': (['--arch', 'vit-b'], 'checkpoint has depth 2 / width 192'),
    'unknown-arch': (['--arch', 'vit-xl'], "unknown ViT arch 'vit-xl'"),
    'no-target-encoder': (['--target-encoder'], 'deit checkpoint has no target encoder'),
    'bad-option': (['--frobnicate'], 'unrecognized arguments: --frobnicate'),
    'bad-img-size': (['--img-size', 'big'], "'big' is not an integer"),
    'negative-img-size': (['--img-size', '-5'], '-5 is not a positive integer'),
}


@pytest.mark.parametrize('kind', list(BAD_INPUTS))
def test_bad_input_is_one_error_line_exit_2_and_no_output(kind, tmp_path, capsys):
    import timm

    flags, pattern = BAD_INPUTS[kind]
    if kind == 'missing':
        source = tmp_path / 'nope.pth'
    elif kind == 'resnet':
        source = save(tmp_path, {'state_dict': timm.create_model('resnet18').state_dict()})
    elif kind in ('arch-mismatch', 'unknown-arch', 'no-target-encoder', 'bad-option', 'bad-img-size',
                  'negative-img-size'):
        source = save(tmp_path, CASES['deit']().checkpoint)
    else:
        source = write_bad_file(tmp_path, kind)
    output = tmp_path / 'converted.pth'
    code, _, err = run(capsys, source, output, *flags)
    assert_failed_cleanly(code, err, tmp_path, output, pattern)


def test_missing_output_folder(tmp_path, capsys):
    output = tmp_path / 'absent' / 'converted.pth'
    code, _, err = run(capsys, save(tmp_path, CASES['deit']().checkpoint), output)
    assert_failed_cleanly(code, err, tmp_path, output, 'does not exist: create it first')


def test_failed_write_leaves_no_partial_file_and_keeps_an_old_one(tmp_path, capsys, monkeypatch):
    output = tmp_path / 'converted.pth'
    output.write_bytes(b'previous conversion')

    def failing_save(obj, path, *args, **kwargs):
        Path(path).write_bytes(b'half a checkpoint')
        raise OSError(28, 'No space left on device')

    source = save(tmp_path, CASES['deit']().checkpoint)
    monkeypatch.setattr(torch, 'save', failing_save)
    code, _, err = run(capsys, source, output)
    assert code == 2 and err.startswith('error: ') and 'No space left on device' in err
    assert output.read_bytes() == b'previous conversion'
    assert not [name for name in os.listdir(tmp_path) if name.endswith('.tmp')]


def test_help_runs_from_the_repository_root():
    result = subprocess.run([sys.executable, str(SCRIPT.relative_to(REPO)), '--help'], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith('usage: convert_checkpoint.py')
    assert '--target-encoder' in result.stdout and '--trust-pickle' in result.stdout


@pytest.mark.slow
def test_script_bad_input_prints_no_traceback(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / 'nope.pth'), str(tmp_path / 'out.pth')],
                            cwd=REPO, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f'error: {tmp_path / "nope.pth"}: no such file: check the path']
