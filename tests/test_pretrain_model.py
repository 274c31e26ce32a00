"""SiameseIM and MAE pretraining models: shapes, trainable set, EMA, official checkpoint interop."""
import pytest
import torch

from pretrain.hooks import MomentumUpdateHook, cosine_momentum
from pretrain.models.mae import MAE, patchify, random_masking
from pretrain.models.siameseim import SiameseIM, official_to_model_state_dict
from pretrain.models.token_batch_norm import TokenBatchNorm

ENCODER = dict(arch=None, embed_dim=32, depth=2, num_heads=4, img_size=32, patch_size=8, final_norm=False)


def tiny_siameseim(**kwargs) -> SiameseIM:
    torch.manual_seed(0)
    return SiameseIM(encoder=ENCODER, decoder_dim=16, decoder_num_heads=4, **kwargs)


def batch(size=3, masked=10):
    generator = torch.Generator().manual_seed(0)
    mask = torch.zeros(size, 16, dtype=torch.bool)
    for row in mask:
        row[torch.randperm(16, generator=generator)[:masked]] = True
    relpos = torch.tensor([[0.1, -0.2, 1.2, 0.8, 0.0, 0.3]] * size, dtype=torch.float64)
    relpos[0, 4] = 1.0
    return dict(
        view1=torch.randn(size, 3, 32, 32, generator=generator),
        view2=torch.randn(size, 3, 32, 32, generator=generator),
        relpos=relpos,
        mask=mask.reshape(size, 4, 4))


def official_state_dict(model: SiameseIM) -> dict:
    """The model's weights under the official key names (models_sim.py), with the dead ``mm_mask_token``."""
    inverse = {}
    for key, value in model.state_dict().items():
        for official, ours in [('mm_projector_decoder_blocks.', 'target_projector.'),
                               ('mm_decoder_embed.', 'target_decoder_embed.'),
                               ('mm_patch_embed.', 'target_encoder.patch_embed.'),
                               ('mm_blocks.', 'target_encoder.blocks.'), ('mm_cls_token', 'target_encoder.cls_token'),
                               ('projector_decoder_blocks.', 'projector.'), ('predictor_decoder_blocks.', 'predictor.'),
                               ('', 'encoder.')]:
            if key.startswith(ours):
                key = official + key[len(ours):]
                break
        inverse[key] = value.clone()
    inverse.pop('target_encoder.pos_embed')
    inverse['mm_mask_token'] = torch.randn(1, 1, 16)
    return inverse


def test_forward_gives_a_finite_loss_and_predictions_for_every_view2_patch():
    model = tiny_siameseim().train()
    out = model(**batch(), mode='tensor')
    assert out['pred'].shape == (3, 16, 16) and out['target'].shape == (3, 16, 16)
    loss = model(**batch())['loss']
    assert loss.ndim == 0 and torch.isfinite(loss)


def test_visible_ids_from_the_data_pipeline_give_the_same_step_in_one_compiled_graph():
    data = batch()
    ids_keep = (~data['mask'].flatten(1)).nonzero()[:, 1].reshape(3, -1)
    model = tiny_siameseim().train()
    derived = model(**data, mode='tensor')
    given = model(**data, ids_keep=ids_keep, mode='tensor')
    assert torch.equal(derived['pred'], given['pred']) and torch.equal(derived['target'], given['target'])
    # Without ids_keep the mask costs graph breaks (count check, nonzero); with them dynamo captures one graph.
    assert torch._dynamo.explain(model)(**data).graph_break_count > 0
    explained = torch._dynamo.explain(model)(**data, ids_keep=ids_keep)
    assert explained.graph_count == 1 and explained.graph_break_count == 0


def test_trainable_parameters_follow_the_spec():
    model = tiny_siameseim()
    trainable = {name.split('.')[0] for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {'encoder', 'decoder_embed', 'projector', 'mask_token', 'decoder_pos_mlp', 'predictor',
                         'decoder_pred'}
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    assert {'encoder.patch_embed.proj.weight', 'encoder.pos_embed'} <= frozen
    assert all(name in frozen for name, _ in model.named_parameters() if name.startswith('target_'))
    assert 'decoder_pos_embed' in dict(model.named_buffers())
    assert isinstance(model.projector[0].norm1, TokenBatchNorm)
    model(**batch())['loss'].backward()
    assert model.encoder.blocks[0].attn.qkv.weight.grad is not None
    assert model.decoder_pos_mlp.weight.grad is not None
    assert model.encoder.patch_embed.proj.weight.grad is None
    assert all(p.grad is None for p in model.target_encoder.parameters())


def test_train_patch_embed_flag():
    model = tiny_siameseim(train_patch_embed=True)
    assert model.encoder.patch_embed.proj.weight.requires_grad


def test_unequal_mask_counts_are_rejected():
    data = batch()
    data['mask'][0, 0, :] = ~data['mask'][0, 0, :]
    if data['mask'][0].sum() == data['mask'][1].sum():
        data['mask'][0, 1, 0] = ~data['mask'][0, 1, 0]
    with pytest.raises(ValueError, match='same number of patches'):
        tiny_siameseim()(**data)


def test_one_ema_step_equals_the_formula():
    model = tiny_siameseim()
    with torch.no_grad():
        for name, param in model.target_encoder.named_parameters():
            if name.split('.')[0] not in ('patch_embed', 'pos_embed'):
                param.add_(torch.randn_like(param))
        for param in model.projector.parameters():
            param.add_(1.0)
    target_before = {k: v.clone() for k, v in model.state_dict().items() if k.startswith('target_')}
    online = model.state_dict()
    model.momentum_update(0.9)
    after = model.state_dict()
    ema_keys = [k for k in target_before if k.startswith('target_') and 'running_' not in k
                and 'num_batches' not in k and 'patch_embed' not in k and 'pos_embed' not in k]
    assert any('target_projector' in k for k in ema_keys) and any('cls_token' in k for k in ema_keys)
    for key in ema_keys:
        online_key = key.replace('target_', '', 1)
        expected = 0.9 * target_before[key] + 0.1 * online[online_key]
        assert torch.allclose(after[key], expected, atol=1e-6), key
    assert torch.equal(after['target_encoder.patch_embed.proj.weight'], after['encoder.patch_embed.proj.weight'])
    assert torch.equal(after['target_projector.0.norm1.bn.running_mean'],
                       target_before['target_projector.0.norm1.bn.running_mean'])


def test_cosine_momentum_schedule_end_points():
    assert cosine_momentum(0.995, 0.0) == pytest.approx(0.995)
    assert cosine_momentum(0.995, 1.0) == pytest.approx(1.0)
    assert cosine_momentum(0.995, 0.5) == pytest.approx(0.9975)
    hook = MomentumUpdateHook(0.995)
    assert hook.momentum_at(1600, 1600) == pytest.approx(1.0)
    assert MomentumUpdateHook(0.99, schedule='const').momentum_at(50, 100) == 0.99
    with pytest.raises(ValueError, match="'cosine' or 'const'"):
        MomentumUpdateHook(schedule='linear')


def test_official_checkpoint_loads_in_full():
    source = tiny_siameseim()
    with torch.no_grad():
        for name, param in source.target_encoder.named_parameters():
            if name != 'pos_embed':
                param.add_(0.5)
    official = official_state_dict(source)
    assert 'mm_blocks.0.attn.qkv.weight' in official and 'projector_decoder_blocks.0.norm1.bn.running_var' in official
    torch.manual_seed(1)
    model = SiameseIM(encoder=ENCODER, decoder_dim=16, decoder_num_heads=4)
    model.load_official_state_dict(official)
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    assert 'target_encoder.pos_embed' in official_to_model_state_dict(official)


def test_official_online_ln_checkpoint_loads_and_its_frozen_norm_is_checked():
    """--online_ln checkpoints hold student_norm.weight/bias frozen at (1, 0) (official models_sim.py)."""
    source = tiny_siameseim(online_ln=True)
    official = official_state_dict(source)
    official.update({'student_norm.weight': torch.ones(16), 'student_norm.bias': torch.zeros(16)})
    model = SiameseIM(encoder=ENCODER, decoder_dim=16, decoder_num_heads=4, online_ln=True)
    model.load_official_state_dict(official)
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    with pytest.raises(ValueError, match='trained with --online_ln.*online_ln=True'):
        tiny_siameseim().load_official_state_dict(official)
    trained = dict(official, **{'student_norm.bias': torch.full((16, ), 0.1)})
    with pytest.raises(ValueError, match='student_norm.bias is not the frozen 0'):
        model.load_official_state_dict(trained)
    partial = {key: value for key, value in official.items() if key != 'student_norm.bias'}
    with pytest.raises(ValueError, match='student_norm.bias is missing'):
        model.load_official_state_dict(partial)


def test_official_checkpoint_of_another_width_is_rejected():
    official = official_state_dict(tiny_siameseim())
    official['decoder_pred.weight'] = torch.zeros(16, 16)
    official['predictor_decoder_blocks.9.norm1.bn.weight'] = torch.zeros(16)
    with pytest.raises(ValueError, match='does not match this model'):
        tiny_siameseim().load_official_state_dict(official)


def test_mae_loss_and_masking():
    torch.manual_seed(0)
    model = MAE(encoder=dict(ENCODER, final_norm=True), decoder_dim=16, decoder_depth=1, decoder_num_heads=4)
    images = torch.randn(2, 3, 32, 32)
    out = model(images, mode='tensor')
    assert out['pred'].shape == (2, 16, 8 * 8 * 3)
    assert out['mask'].sum(1).tolist() == [12, 12]
    loss = model(images)['loss']
    assert torch.isfinite(loss)
    loss.backward()
    assert model.encoder.blocks[0].attn.qkv.weight.grad is not None


def test_patchify_orders_pixels_row_column_channel():
    images = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    patches = patchify(images, 2)
    assert patches.shape == (2, 4, 12)
    assert patches[0, 1].tolist()[:3] == [images[0, c, 0, 2].item() for c in range(3)]
    assert patches[0, 1, 3].item() == images[0, 0, 0, 3].item()


def test_random_masking_restores_order():
    ids_keep, ids_restore, mask = random_masking(4, 10, 0.7, torch.device('cpu'))
    assert ids_keep.shape == (4, 3)
    assert mask.sum(1).tolist() == [7.0] * 4
    assert all(mask[b, ids_keep[b]].sum() == 0 for b in range(4))
    assert torch.equal(torch.gather(ids_restore.argsort(1), 1, ids_restore), torch.arange(10).expand(4, -1))
