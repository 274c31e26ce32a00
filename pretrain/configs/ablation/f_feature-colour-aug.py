# Row (f): (e) with colour augmentation. Paper: FT 83.0, LIN 73.1, COCO 47.9/43.2.
_base_ = './_base_/siameseim-ablation_vit-base-p16_8xb512-amp-coslr-400e_in1k.py'

model = dict(head='moco', projector_depth=3, predictor_depth=2, projector_norm='ln', predictor_norm='ln')
train_dataloader = dict(
    dataset=dict(
        transform=dict(views='different', color_aug=True),
        mask_generator=dict(_delete_=True, type='RandomMaskGenerator', input_size=14, num_masking_patches=147)))
