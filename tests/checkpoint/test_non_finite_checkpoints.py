"""Weights holding NaN or inf are refused on every load path with one line naming the file and the first bad keys.

Paths here: the reader itself (.pth and .safetensors), a backbone's ``pretrained=``, an in-memory state dict,
siameseim.cli.convert_checkpoint, the few-shot feature model and the suite's ``bench``. ``load_from``, ``--resume``
and tools/test.py are covered in test_safe_loading.py, auto-resume in test_checkpoint_saving.py.
"""
import pytest
import torch
from checkpoint_formats import VIT_SIZES

from siameseim.robustness.few_shot import build_feature_model
from siameseim.checkpoint import CheckpointError, load_pretrained, read_checkpoint
from siameseim.cli import convert_checkpoint
from siameseim.finite import non_finite_keys
from siameseim.models.vit import ViT
from siameseim.suite.cli import main as suite_main

BAD_KEYS = '(model.pos_embed, model.blocks.0.attn.qkv.weight)'


def _diverged_state():
    torch.manual_seed(0)
    state = ViT(**VIT_SIZES).state_dict()
    state['blocks.0.attn.qkv.weight'][3, 1] = float('nan')
    state['pos_embed'][0, 2, 0] = float('-inf')
    return state


@pytest.fixture
def diverged(tmp_path):
    path = tmp_path / 'diverged.pth'
    torch.save({'model': _diverged_state()}, path)
    return path


def test_non_finite_keys_walks_nesting_and_every_float_dtype():
    nan, inf = float('nan'), float('inf')
    tree = {
        'state_dict': {'fine': torch.ones(4), 'half': torch.tensor([1.0, inf]).half(),
                       'bf16': torch.tensor([nan]).bfloat16(), 'f8': torch.tensor([nan]).to(torch.float8_e4m3fn),
                       'complex': torch.tensor([complex(1, nan)]), 'empty': torch.zeros(0), 'int': torch.arange(3)},
        'optimizer': {'state': {0: {'exp_avg': torch.tensor([[-inf, 0.0]])}}, 'param_groups': [{'lr': nan}]},
        'list': [torch.ones(1), (torch.tensor([nan]), )],
    }
    assert non_finite_keys(tree) == ['state_dict.half', 'state_dict.bf16', 'state_dict.f8', 'state_dict.complex',
                                     'optimizer.state.0.exp_avg', 'list.1.0']


def test_reader_names_the_file_and_the_first_bad_tensors(diverged):
    with pytest.raises(CheckpointError) as raised:
        read_checkpoint(diverged)
    message = str(raised.value)
    assert message == (f'{diverged} holds non-finite values (NaN or inf) in 2 tensors {BAD_KEYS}: the run that '
                       f'wrote it diverged; use an earlier checkpoint of that run')


def test_safetensors_files_are_checked_too(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / 'diverged.safetensors'
    save_file(_diverged_state(), str(path))
    with pytest.raises(CheckpointError, match=r'diverged.safetensors holds non-finite values .* in 2 tensors'):
        read_checkpoint(path)


def test_integer_tensors_and_finite_weights_pass(tmp_path):
    path = tmp_path / 'fine.pth'
    torch.save({'model': ViT(**VIT_SIZES).state_dict(), 'step': torch.tensor(3)}, path)
    assert 'model' in read_checkpoint(path)


def test_backbone_pretrained_refuses_a_diverged_checkpoint(diverged):
    backbone = ViT(**VIT_SIZES, pretrained=str(diverged))
    with pytest.raises(CheckpointError, match=f'^{diverged} holds non-finite values'):
        backbone.init_weights()


def test_in_memory_state_dict_is_checked_after_canonicalisation():
    with pytest.raises(CheckpointError, match=r'^checkpoint holds non-finite values .* \(pos_embed, blocks.0.attn'):
        load_pretrained(ViT(**VIT_SIZES), _diverged_state())


def test_convert_refuses_in_one_line_and_writes_nothing(diverged, tmp_path, capsys):
    output = tmp_path / 'converted.pth'
    assert convert_checkpoint.main([str(diverged), str(output)]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith(f'error: {diverged} holds non-finite values')
    assert not output.exists()


def test_few_shot_feature_model_refuses_a_diverged_checkpoint(diverged):
    with pytest.raises(CheckpointError, match=f'^{diverged} holds non-finite values'):
        build_feature_model(str(diverged), dict(VIT_SIZES))


def test_suite_bench_refuses_before_running_any_task(diverged, tmp_path, capsys):
    out = tmp_path / 'suite'
    assert suite_main(['bench', '--checkpoint', f'mine={diverged}', '--tasks', 'fewshot', '--out', str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count('\n') == 1 and err.startswith(f'error: {diverged} holds non-finite values')
    assert not (out / 'results.json').exists()
