# Row (e): (b) with different views (token t of the masked view 1 predicts token t of view 2).
# Paper: FT 82.9, LIN 69.6, COCO 48.5/43.4.
_base_ = './_base_/siameseim-ablation_vit-base-p16_8xb512-amp-coslr-400e_in1k.py'

model = dict(head='moco', projector_depth=3, predictor_depth=2, projector_norm='ln', predictor_norm='ln')
train_dataloader = dict(
    dataset=dict(
        transform=dict(views='different', color_aug=False),
        mask_generator=dict(_delete_=True, type='RandomMaskGenerator', input_size=14, num_masking_patches=147)))
