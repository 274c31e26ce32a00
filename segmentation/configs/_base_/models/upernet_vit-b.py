# UperNet on the shared ViT-B/16, MAE recipe (docs/protocols.md §3.1-3.3): BEiT-style backbone with per-block
# zero-init relative position bias, the absolute pos-embed kept (checkpoint 14x14 table resized once to
# 32x32 at load), LayerScale 1.0, drop path 0.1; Feature2Pyramid 4x/2x/1x/0.5x; UPerHead + FCN auxiliary.
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(512, 512))
model = dict(
    type='ViTEncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='siameseim.ViT',
        arch='base',
        img_size=(512, 512),
        cls_token=True,
        pos_embed='learned',
        use_rel_pos_bias=True,
        layer_scale_init=1.0,
        drop_path_rate=0.1,
        out_indices=(3, 5, 7, 11),
        final_norm=False,
        norm_eps=1e-6,
        attn_impl='sdpa',
        pretrained=None),
    neck=dict(type='Feature2Pyramid', embed_dim=768, rescales=[4, 2, 1, 0.5], norm_cfg=norm_cfg),
    decode_head=dict(
        type='UPerHead',
        in_channels=[768, 768, 768, 768],
        in_index=[0, 1, 2, 3],
        pool_scales=(1, 2, 3, 6),
        channels=768,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=dict(
        type='FCNHead',
        in_channels=768,
        in_index=2,
        channels=256,
        num_convs=1,
        concat_input=False,
        dropout_ratio=0.1,
        num_classes=150,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=0.4)),
    train_cfg=dict(),
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(341, 341)))
