# ViT-B/16 classifier for fine-tuning (docs/method.md §5.1): mean-pooled patch tokens -> fc_norm -> Linear
# (trunc-normal std 2e-5), no final norm, frozen sin-cos pos_embed, drop path 0.1, mixup 0.8 / cutmix 1.0
# (prob 1, switch 0.5, batch mode) with label smoothing 0.1 inside the soft targets.
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(type='BaseDataPreprocessor'),
    backbone=dict(arch='base', global_pool='avg', final_norm=False, drop_path_rate=0.1, pretrained=None),
    num_classes=1000,
    head='linear',
    head_init_std=2e-5,
    mixup=dict(mixup_alpha=0.8, cutmix_alpha=1.0, prob=1.0, switch_prob=0.5, mode='batch', label_smoothing=0.1))
