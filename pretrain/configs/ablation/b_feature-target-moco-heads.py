# Row (b): (a) with a feature target (momentum encoder + projector on the same crop), MoCo-like per-token MLP
# heads (LayerNorm) and UniGrad. Paper: FT 81.0, LIN 48.7, COCO 43.5/39.2.
_base_ = './_base_/siameseim-ablation_vit-base-p16_8xb512-amp-coslr-400e_in1k.py'

model = dict(head='moco', projector_depth=3, predictor_depth=2, projector_norm='ln', predictor_norm='ln')
train_dataloader = dict(
    dataset=dict(
        transform=dict(views='same', color_aug=False),
        mask_generator=dict(_delete_=True, type='RandomMaskGenerator', input_size=14, num_masking_patches=147)))
