# SiameseIM ViT-L/16 with the ViT-B recipe. No ViT-L pretraining recipe was released (docs/method.md §1.8, §9);
# total batch 4096, Dd = 768 as for ViT-B.
_base_ = './siameseim_vit-base-p16_8xb512-amp-coslr-1600e_in1k.py'

model = dict(encoder=dict(arch='large'))
