# ADE20k UperNet on ViT-L/16: the ViT-B recipe with a 24-block, 1024-wide backbone.
# Not fixed by docs/protocols.md (§3 covers ViT-B only): features from blocks (7, 11, 15, 23) as in mmseg's BEiT-L
# UperNet, and layer decay 0.75, the ViT-L value of MAE's ImageNet fine-tuning (0.65 there for ViT-B);
# with 0.65 over 24 blocks block 0 would train at 0.65^24 ~ 3e-5 of the base lr.
_base_ = ['upernet_vit-b_160k_ade20k-512x512.py']
model = dict(
    backbone=dict(arch='large', out_indices=(7, 11, 15, 23)),
    neck=dict(embed_dim=1024),
    decode_head=dict(in_channels=[1024, 1024, 1024, 1024]),
    auxiliary_head=dict(in_channels=1024))
optim_wrapper = dict(paramwise_cfg=dict(layer_decay_rate=0.75))
