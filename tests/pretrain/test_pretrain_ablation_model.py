"""The ablation's model switches of SiameseIM (docs/ablation.md): each changes exactly the part it names, and the
released defaults are untouched."""
import pytest
import torch
import torch.nn as nn

from siameseim.pretrain.losses import FeatureL2Loss, PixelL2Loss, UniGradLoss, unigrad_loss
from siameseim.pretrain.models import MAE, MLPHead, SiameseIM, TokenBatchNorm
from siameseim.pretrain.models.mae import patchify

ENCODER = dict(arch=None, embed_dim=32, depth=2, num_heads=4, img_size=32, patch_size=8, final_norm=False)
MOCO_HEAD = dict(head='moco', projector_depth=3, predictor_depth=2, mlp_hidden_dim=24)


def tiny(**kwargs) -> SiameseIM:
    torch.manual_seed(0)
    return SiameseIM(encoder=ENCODER, decoder_dim=16, decoder_num_heads=4, **kwargs).train()


def batch(size=3, masked=10, same_view=False):
    generator = torch.Generator().manual_seed(0)
    mask = torch.zeros(size, 16, dtype=torch.bool)
    for row in mask:
        row[torch.randperm(16, generator=generator)[:masked]] = True
    relpos = torch.tensor([[0.1, -0.2, 1.2, 0.8, 0.0, 0.3]] * size, dtype=torch.float64)
    view1 = 2 * torch.randn(size, 3, 32, 32, generator=generator) + 0.5
    view2 = view1.clone() if same_view else torch.randn(size, 3, 32, 32, generator=generator)
    return dict(view1=view1, view2=view2, relpos=relpos, mask=mask.reshape(size, 4, 4))


def visible_and_masked(mask):
    flat = mask.flatten(1)
    return ([row.nonzero()[:, 0] for row in ~flat], [row.nonzero()[:, 0] for row in flat])


def test_explicit_released_switches_build_the_released_model():
    released, explicit = tiny(), tiny(target='feature', head='mae', loss='unigrad', loss_form='dense',
                                      loss_region='all', projector_norm='bn', predictor_norm='bn')
    assert list(released.state_dict()) == list(explicit.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(released.state_dict().values(), explicit.state_dict().values()))
    assert isinstance(released.loss_fn, UniGradLoss)
    data = batch()
    assert torch.equal(released(**data)['loss'], explicit(**data)['loss'])


def test_pixel_target_is_the_normalised_patches_of_view2_and_the_loss_is_maes_on_the_masked_patches():
    model = tiny(target='pixel', loss='l2', loss_region='masked', projector_norm='ln', predictor_norm='ln')
    assert not hasattr(model, 'target_encoder') and model.target_modules() == []
    assert model.decoder_pred.out_features == 8 * 8 * 3 and isinstance(model.loss_fn, PixelL2Loss)
    data = batch(same_view=True)
    out = model(**data, mode='tensor')
    _, masked = visible_and_masked(data['mask'])
    patches = patchify(data['view2'], 8).double()
    for b, ids in enumerate(masked):
        expected = patches[b, ids]
        expected = (expected - expected.mean(-1, keepdim=True)) / (expected.var(-1, keepdim=True) + 1e-6)**0.5
        torch.testing.assert_close(out['target'][b].double(), expected, rtol=1e-5, atol=1e-5)
    # the same loss as MAE's reconstruction_loss for these predictions scattered back and MAE's mask
    full_pred = torch.zeros(3, 16, 8 * 8 * 3)
    for b, ids in enumerate(masked):
        full_pred[b, ids] = out['pred'][b].detach()
    mae = MAE(encoder=dict(ENCODER, final_norm=True), decoder_dim=16, decoder_depth=1, decoder_num_heads=4)
    expected_loss = mae.reconstruction_loss(data['view2'], full_pred, data['mask'].flatten(1).float())
    assert float(model.loss_fn(out['pred'], out['target']).detach()) == pytest.approx(float(expected_loss), rel=1e-5)
    model.momentum_update(0.5)   # no target branch: a no-op, not an error


def test_loss_region_masked_keeps_the_predictions_of_the_patches_view1_did_not_see():
    full = tiny(target='pixel', loss='l2', loss_region='all')
    masked_only = tiny(target='pixel', loss='l2', loss_region='masked')
    data = batch()
    everything, selected = full(**data, mode='tensor'), masked_only(**data, mode='tensor')
    assert everything['pred'].shape == (3, 16, 192) and selected['pred'].shape == (3, 10, 192)
    _, masked = visible_and_masked(data['mask'])
    for b, ids in enumerate(masked):
        torch.testing.assert_close(selected['pred'][b], everything['pred'][b, ids])
        torch.testing.assert_close(selected['target'][b], everything['target'][b, ids])


def test_moco_like_head_has_mlps_and_no_position_queries():
    model = tiny(**MOCO_HEAD)
    names = dict(model.named_parameters())
    assert not any(key.startswith(('mask_token', 'decoder_pos_mlp', 'decoder_embed', 'decoder_pred')) for key in names)
    assert isinstance(model.projector, MLPHead) and isinstance(model.predictor, MLPHead)
    assert [m.out_features for m in model.projector if isinstance(m, nn.Linear)] == [24, 24, 16]
    assert [m.out_features for m in model.predictor if isinstance(m, nn.Linear)] == [24, 16]
    assert not hasattr(model, 'decoder_pos_embed')
    data = batch()
    out = model(**data, mode='tensor')
    assert out['pred'].shape == (3, 6, 16) and out['target'].shape == (3, 6, 16)
    moved = dict(data, relpos=data['relpos'] + torch.tensor([0.3, 0.1, 0.5, 0.2, 1.0, -0.4], dtype=torch.float64))
    assert torch.equal(model(**moved, mode='tensor')['pred'], out['pred']), 'no input depends on the view-2 position'
    mae_like = tiny()
    assert not torch.equal(mae_like(**moved, mode='tensor')['pred'], mae_like(**data, mode='tensor')['pred'])


def test_moco_like_head_compares_token_t_of_view1_with_token_t_of_view2():
    model = tiny(**MOCO_HEAD)
    data = batch()
    out = model(**data, mode='tensor')
    target_all = model.target_view2(data['view2'])
    visible, _ = visible_and_masked(data['mask'])
    for b, ids in enumerate(visible):
        torch.testing.assert_close(out['target'][b], target_all[b, ids])
    assert [module is not None for module in model.target_modules()] == [True, True]
    targets, onlines = model.ema_parameter_pairs()
    assert len(targets) == len(onlines) == sum(p.requires_grad for p in model.encoder.parameters()) + \
        sum(p.requires_grad for p in model.projector.parameters())


@pytest.mark.parametrize('head', [dict(), MOCO_HEAD], ids=['mae-like', 'moco-like'])
def test_global_loss_form_pools_the_tokens_before_the_loss(head):
    dense, pooled = tiny(**head), tiny(loss_form='global', **head)
    data = batch()
    out = pooled(**data, mode='tensor')
    expected = UniGradLoss()(out['pred'].mean(1), out['target'].mean(1)).detach()
    with torch.no_grad():
        assert float(pooled(**data)['loss']) == pytest.approx(float(expected), rel=1e-6)
        dense_loss = float(dense(**data)['loss'])
    assert dense_loss == pytest.approx(float(UniGradLoss()(out['pred'], out['target']).detach()), rel=1e-6)
    assert abs(float(expected) - dense_loss) > 1e-4


def test_l2_loss_is_unigrads_positive_term_on_the_layernormed_target():
    model = tiny(loss='l2')
    assert isinstance(model.loss_fn, FeatureL2Loss)
    data = batch()
    out = model(**data, mode='tensor')
    pred, target = out['pred'].detach().double(), out['target'].double()
    target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, unbiased=False, keepdim=True) + 1e-5).sqrt()
    expected = (pred - target).square().sum(-1).mean() / pred.shape[-1]
    with torch.no_grad():
        loss = float(model(**data)['loss'])
        lambda_zero = unigrad_loss(out['pred'], UniGradLoss.teacher_norm(out['target']), neg_weight=0.0)
    assert loss == pytest.approx(float(expected), rel=1e-5)
    assert loss == pytest.approx(float(lambda_zero), rel=1e-6)


@pytest.mark.parametrize('head', [dict(), MOCO_HEAD], ids=['mae-like', 'moco-like'])
@pytest.mark.parametrize('norm', ['bn', 'ln'])
def test_projector_and_predictor_norm_switch(head, norm):
    model = tiny(projector_norm=norm, predictor_norm=norm, **head)
    expected, other = (TokenBatchNorm, nn.LayerNorm) if norm == 'bn' else (nn.LayerNorm, TokenBatchNorm)
    for part in (model.projector, model.predictor):
        kinds = {type(m) for m in part.modules()}
        assert expected in kinds and other not in kinds
    assert {type(m) for m in model.encoder.modules()} & {TokenBatchNorm} == set()


@pytest.mark.parametrize('kwargs, message', [
    (dict(target='pixels'), "target must be one of"),
    (dict(target='pixel', loss='unigrad'), "target='pixel' is MAE's reconstruction"),
    (dict(target='pixel', loss='l2', loss_form='global'), "target='pixel' is MAE's reconstruction"),
    (dict(head='moco', loss_region='masked'), "head='moco' predicts only the visible tokens"),
    (dict(loss_form='pooled'), 'loss_form must be one of'),
    (dict(projector_norm='gn'), "norm must be 'bn' or 'ln'"),
])
def test_impossible_switch_settings_are_refused_in_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message) as err:
        tiny(**kwargs)
    assert '\n' not in str(err.value)
