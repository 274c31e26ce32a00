# Row (j): (i) with the L2 loss (UniGrad's positive term alone). Paper: FT 83.3, LIN 76.5, COCO 49.8/44.2.
_base_ = './_base_/siameseim-ablation_vit-base-p16_8xb512-amp-coslr-400e_in1k.py'

model = dict(loss='l2')
