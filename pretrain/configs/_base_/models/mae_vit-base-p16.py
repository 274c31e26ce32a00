# MAE ViT-B/16 baseline: 8-block 512-wide decoder, 75 % random masking, normalised-pixel loss (docs/method.md §3.6).
model = dict(
    type='MAE',
    encoder=dict(arch='base', img_size=224, cls_token=True, pos_embed='sincos', final_norm=True),
    decoder_dim=512,
    decoder_depth=8,
    decoder_num_heads=16,
    mask_ratio=0.75,
    norm_pix_loss=True)
