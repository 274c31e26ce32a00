# Row (h): (g) with SiameseIM's block-wise masks (118 of 196). Paper: FT 83.5, LIN 74.7, COCO 50.0/44.5.
_base_ = './_base_/siameseim-ablation_vit-base-p16_8xb512-amp-coslr-400e_in1k.py'

model = dict(head='moco', projector_depth=3, predictor_depth=2, projector_norm='bn', predictor_norm='bn')
