# The ViT-B/16 imagenet-r test config with the ViT-L/16 fine-tuned classifier (robustness/configs/vit-l_ft-50e_in1k.py).
# Run: python tools/test.py robustness/configs/robustness/vit-l_ft_imagenet-r.py FT_CHECKPOINT
_base_ = ['./vit-b_ft_imagenet-r.py']

model = dict(backbone=dict(arch='large', drop_path_rate=0.2))
