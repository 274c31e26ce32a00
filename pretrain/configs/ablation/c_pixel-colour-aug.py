# Row (c): (a) with colour augmentation: one crop, coloured independently for the online input and the target
# (the asymmetric BYOL pair). Paper: FT 82.0, LIN 59.9, COCO 46.3/41.8.
_base_ = './_base_/siameseim-ablation_vit-base-p16_8xb512-amp-coslr-400e_in1k.py'

model = dict(target='pixel', loss='l2', loss_region='masked', projector_norm='ln', predictor_norm='ln')
train_dataloader = dict(
    dataset=dict(
        transform=dict(views='same', color_aug=True),
        mask_generator=dict(_delete_=True, type='RandomMaskGenerator', input_size=14, num_masking_patches=147)))
