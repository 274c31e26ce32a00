# MoCo-v3 ViT-B/16 baseline: cls token after the final LayerNorm, 3-layer projector and 2-layer predictor MLPs
# (4096 hidden, 256 out, batch norm), InfoNCE at τ = 0.2, frozen random patch projection (docs/ablation.md).
model = dict(
    type='MoCoV3',
    encoder=dict(arch='base', img_size=224, cls_token=True, pos_embed='sincos', final_norm=True,
                 drop_path_rate=0.0),
    dim=256,
    mlp_dim=4096,
    temperature=0.2,
    train_patch_embed=False)
