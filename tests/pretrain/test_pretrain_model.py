"""SiameseIM and MAE pretraining models: shapes, trainable set, EMA, official checkpoint interop."""
import math

import pytest
import torch

from siameseim.pretrain.hooks import MomentumUpdateHook, cosine_momentum
from siameseim.pretrain.models.mae import MAE, patchify, random_masking
from siameseim.pretrain.models.siameseim import SiameseIM, official_to_model_state_dict
from siameseim.pretrain.models.token_batch_norm import TokenBatchNorm

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


def mae_loss_oracle(images, pred, mask, patch, norm_pix):
    """MAE's loss written out in fp64: each masked patch's pixels read from the image in (row, column, channel)
    order, optionally normalised by their mean and unbiased variance (+1e-6), squared error averaged over the
    patch, then over the masked patches."""
    images, pred = images.double(), pred.double()
    batch, _, height, width = images.shape
    columns = width // patch
    total, count = 0.0, 0
    for b in range(batch):
        for index in range(mask.shape[1]):
            if not mask[b, index]:
                continue
            top, left = index // columns * patch, index % columns * patch
            pixels = [float(images[b, c, top + i, left + j]) for i in range(patch) for j in range(patch)
                      for c in range(3)]
            if norm_pix:
                mean = sum(pixels) / len(pixels)
                var = sum((x - mean) ** 2 for x in pixels) / (len(pixels) - 1)
                pixels = [(x - mean) / (var + 1e-6) ** 0.5 for x in pixels]
            total += sum((float(p) - x) ** 2 for p, x in zip(pred[b, index], pixels)) / len(pixels)
            count += 1
    return total / count


@pytest.mark.parametrize('norm_pix_loss', [True, False])
def test_mae_loss_equals_the_written_out_formula(norm_pix_loss):
    torch.manual_seed(0)
    model = MAE(encoder=dict(ENCODER, final_norm=True), decoder_dim=16, decoder_depth=1, decoder_num_heads=4,
                norm_pix_loss=norm_pix_loss)
    images = 3 * torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1)) + 1
    torch.manual_seed(5)
    out = model(images, mode='tensor')
    torch.manual_seed(5)  # the same random mask again
    loss = model(images)['loss']
    assert int(out['mask'].sum()) == 24
    expected = mae_loss_oracle(images, out['pred'], out['mask'], 8, norm_pix_loss)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    other = mae_loss_oracle(images, out['pred'], out['mask'], 8, not norm_pix_loss)
    assert abs(other - expected) > 1e-2 * expected  # the flag changes the value: the oracle tells them apart


class Fp64SiameseIM:
    """SiameseIM's forward and UniGrad loss restated in fp64 from the method's definition, reading only the
    weights of a model (none of its modules run): patch embedding, fixed row-first sin-cos positions, pre-norm
    blocks (LayerNorm eps 1e-6 in the encoders, batch statistics over batch × tokens in projector and
    predictor), the view-2 queries at their view-1 grid positions, and the loss on LayerNorm-ed targets."""

    def __init__(self, model: SiameseIM, heads: int = 4, decoder_heads: int = 4) -> None:
        self.w = {key: value.double() for key, value in model.state_dict().items()}
        self.heads, self.decoder_heads = heads, decoder_heads
        self.patch, self.grid = model.encoder.patch_size, model.grid_size[0]
        self.depth, self.proj_depth, self.pred_depth = len(model.encoder.blocks), 2, 4
        self.neg_weight = model.loss_fn.neg_weight

    @staticmethod
    def phi(positions, width):
        """[sin(p·ω), cos(p·ω)], ω_k = 10000^(-k/K), K = width/4: half of a 2-D embedding of width ``width``."""
        quarter = width // 4
        omega = 10000.0 ** (-torch.arange(quarter, dtype=torch.float64) / quarter)
        angles = positions.double()[..., None] * omega
        return torch.cat([angles.sin(), angles.cos()], -1)

    def table(self, width):
        """Row-first table of the g×g grid, ``[g², width]`` (the cls row, all zeros, is left out)."""
        rows = torch.arange(self.grid).repeat_interleave(self.grid)
        cols = torch.arange(self.grid).repeat(self.grid)
        return torch.cat([self.phi(rows, width), self.phi(cols, width)], -1)

    def linear(self, x, name):
        return x @ self.w[f'{name}.weight'].T + self.w[f'{name}.bias']

    def norm(self, x, name, batch_stats):
        if batch_stats:
            flat = x.reshape(-1, x.shape[-1])
            mean, var, eps, name = flat.mean(0), flat.var(0, unbiased=False), 1e-5, f'{name}.bn'
        else:
            mean, var, eps = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True), 1e-6
        return (x - mean) / torch.sqrt(var + eps) * self.w[f'{name}.weight'] + self.w[f'{name}.bias']

    def block(self, x, name, heads, batch_stats):
        batch, tokens, width = x.shape
        qkv = self.linear(self.norm(x, f'{name}.norm1', batch_stats), f'{name}.attn.qkv')
        q, k, v = qkv.reshape(batch, tokens, 3, heads, width // heads).permute(2, 0, 3, 1, 4)
        attention = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(width // heads), -1)
        x = x + self.linear((attention @ v).transpose(1, 2).reshape(batch, tokens, width), f'{name}.attn.proj')
        hidden = self.linear(self.norm(x, f'{name}.norm2', batch_stats), f'{name}.mlp.fc1')
        hidden = 0.5 * hidden * (1 + torch.erf(hidden / math.sqrt(2)))
        return x + self.linear(hidden, f'{name}.mlp.fc2')

    def embed(self, images, prefix):
        """Patch tokens ``[B, g², D]`` with positions: each patch's (channel, row, column) pixels · the kernel."""
        batch, g, p = images.shape[0], self.grid, self.patch
        patches = images.double().reshape(batch, 3, g, p, g, p).permute(0, 2, 4, 1, 3, 5).reshape(batch, g * g, -1)
        kernel = self.w[f'{prefix}patch_embed.proj.weight'].reshape(-1, 3 * p * p)
        width = kernel.shape[0]
        return patches @ kernel.T + self.w[f'{prefix}patch_embed.proj.bias'] + self.table(width)

    def encoder(self, tokens, prefix):
        cls = self.w[f'{prefix}cls_token'].expand(tokens.shape[0], 1, -1)  # + the zero cls position
        x = torch.cat([cls, tokens], 1)
        for index in range(self.depth):
            x = self.block(x, f'{prefix}blocks.{index}', self.heads, batch_stats=False)
        return x

    def queries(self, relpos, width):
        """mask_token + decoder_pos_mlp(RelPE): view 2's patch centres in view 1's grid, and the scales."""
        d_i, d_j, d_h, d_w, flip, d_j_flip = relpos.double().unbind(1)
        centres = torch.arange(self.grid, dtype=torch.float64) + 0.5
        u = d_h[:, None] * centres + self.grid * d_i[:, None] - 0.5
        v = torch.where(flip[:, None] > 0.5, -d_w[:, None] * centres + self.grid * d_j_flip[:, None],
                        d_w[:, None] * centres + self.grid * d_j[:, None]) - 0.5
        rows = u.repeat_interleave(self.grid, 1)  # raster order of view 2: row r, column c
        cols = v.repeat(1, self.grid)
        scales = torch.stack([10 * d_h.log(), 10 * d_w.log()], 1)[:, None, :].expand(-1, self.grid ** 2, -1)
        relpe = torch.cat([self.phi(rows, width), self.phi(cols, width), self.phi(scales[..., 0], width),
                           self.phi(scales[..., 1], width)], -1)
        return self.w['mask_token'] + self.linear(relpe, 'decoder_pos_mlp')

    def forward(self, view1, view2, relpos, mask):
        visible = [(~row.flatten()).nonzero()[:, 0] for row in mask]
        embedded = self.embed(view1, 'encoder.')
        x = self.encoder(torch.stack([embedded[b, ids] for b, ids in enumerate(visible)]), 'encoder.')
        x = self.linear(x, 'decoder_embed')
        for index in range(self.proj_depth):
            x = self.block(x, f'projector.{index}', self.decoder_heads, batch_stats=True)
        dpe = self.table(x.shape[-1])
        x = torch.cat([x[:, :1], x[:, 1:] + torch.stack([dpe[ids] for ids in visible]),
                       self.queries(relpos, x.shape[-1])], 1)
        for index in range(self.pred_depth):
            x = self.block(x, f'predictor.{index}', self.decoder_heads, batch_stats=True)
        pred = self.linear(x[:, -self.grid ** 2:], 'decoder_pred')

        y = self.linear(self.encoder(self.embed(view2, 'target_encoder.'), 'target_encoder.'), 'target_decoder_embed')
        for index in range(self.proj_depth):
            y = self.block(y, f'target_projector.{index}', self.decoder_heads, batch_stats=True)
        return pred, y[:, 1:]

    def loss(self, pred, target):
        """(pos + λ·neg) / D on the flattened tokens, the target LayerNorm-ed (no affine, eps 1e-5)."""
        target = (target - target.mean(-1, keepdim=True)) / torch.sqrt(target.var(-1, unbiased=False, keepdim=True)
                                                                         + 1e-5)
        p, t = pred.reshape(-1, pred.shape[-1]), target.reshape(-1, target.shape[-1])
        second_moment = t.T @ t / t.shape[0]
        pos = sum(float(((p[n] - t[n]) ** 2).sum()) for n in range(p.shape[0])) / p.shape[0]
        neg = sum(float(p[n] @ second_moment @ p[n]) for n in range(p.shape[0])) / p.shape[0]
        return (pos + self.neg_weight * neg) / p.shape[1], pos, neg


def test_siameseim_forward_and_loss_equal_an_fp64_restatement():
    """A tiny model whose target branch differs from the online one (as after EMA steps), one view flipped:
    predictions, targets and the UniGrad loss match the fp64 re-statement."""
    model = tiny_siameseim().train()
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if ('target_' in name or 'norm' in name or name == 'mask_token') and 'pos_embed' not in name:
                param.add_(0.3 * torch.randn(param.shape, generator=generator))
    data = batch()
    assert data['relpos'][0, 4] == 1 and data['relpos'][1, 4] == 0  # both flip cases
    oracle = Fp64SiameseIM(model)
    expected_pred, expected_target = oracle.forward(**data)
    out = model(**data, mode='tensor')
    torch.testing.assert_close(out['pred'].double(), expected_pred, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out['target'].double(), expected_target, rtol=1e-4, atol=1e-4)
    expected_loss, pos, neg = oracle.loss(expected_pred, expected_target)
    assert pos > 0 and neg > 0 and oracle.neg_weight * neg > 1e-3 * pos  # both terms count
    assert float(model(**data)['loss']) == pytest.approx(expected_loss, rel=1e-5)
