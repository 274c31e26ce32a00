# Row (k): (g) with the loss on the token means instead of per token. Paper: FT 82.7, LIN 72.0, COCO 45.9/41.4.
_base_ = './_base_/siameseim-ablation_vit-base-p16_8xb512-amp-coslr-400e_in1k.py'

model = dict(head='moco', projector_depth=3, predictor_depth=2, loss_form='global')
train_dataloader = dict(
    dataset=dict(
        transform=dict(views='different', color_aug=True),
        mask_generator=dict(_delete_=True, type='RandomMaskGenerator', input_size=14, num_masking_patches=147)))
