# Row (g): (f) with batch norm in the projector and predictor MLPs (MoCo-v3's choice).
# Paper: FT 83.2, LIN 73.6, COCO 48.7/43.7.
_base_ = './_base_/siameseim-ablation_vit-base-p16_8xb512-amp-coslr-400e_in1k.py'

model = dict(head='moco', projector_depth=3, predictor_depth=2, projector_norm='bn', predictor_norm='bn')
train_dataloader = dict(
    dataset=dict(
        transform=dict(views='different', color_aug=True),
        mask_generator=dict(_delete_=True, type='RandomMaskGenerator', input_size=14, num_masking_patches=147)))
