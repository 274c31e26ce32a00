# Row (a), MAE within the meta-architecture: the normalised pixels of the same (uncoloured) crop, MAE's uniform
# masks (75 %), LayerNorm MAE-like decoder, MSE on the masked patches. Paper: FT 82.8, LIN 62.3, COCO 47.3/42.5.
_base_ = './_base_/siameseim-ablation_vit-base-p16_8xb512-amp-coslr-400e_in1k.py'

model = dict(target='pixel', loss='l2', loss_region='masked', projector_norm='ln', predictor_norm='ln')
train_dataloader = dict(
    dataset=dict(
        transform=dict(views='same', color_aug=False),
        mask_generator=dict(_delete_=True, type='RandomMaskGenerator', input_size=14, num_masking_patches=147)))
