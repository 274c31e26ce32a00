# Row (d): (a) with different views: the pixels of every patch of a second crop, queried through its relative
# position. Paper: FT 78.7, LIN 46.2, COCO 38.1/34.8.
_base_ = './_base_/siameseim-ablation_vit-base-p16_8xb512-amp-coslr-400e_in1k.py'

model = dict(target='pixel', loss='l2', loss_region='all', projector_norm='ln', predictor_norm='ln')
train_dataloader = dict(
    dataset=dict(
        transform=dict(views='different', color_aug=False),
        mask_generator=dict(_delete_=True, type='RandomMaskGenerator', input_size=14, num_masking_patches=147)))
