# SiameseIM ViT-B/16 as released: Dd = 768, 2 projector + 4 predictor BN blocks, λ = 0.02 (docs/method.md §1, §3.1).
model = dict(
    type='SiameseIM',
    encoder=dict(arch='base', img_size=224, cls_token=True, pos_embed='sincos', final_norm=False,
                 drop_path_rate=0.0),
    decoder_dim=768,
    decoder_num_heads=16,
    projector_depth=2,
    predictor_depth=4,
    projector_norm='bn',
    predictor_norm='bn',
    neg_weight=0.02,
    online_ln=False,
    train_patch_embed=False)
