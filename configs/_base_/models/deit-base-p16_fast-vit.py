# DeiT-B (Touvron et al., 2021) as an mmpretrain ImageClassifier on mmdbp's FastVisionTransformer;
# see deit-small-p16_fast-vit.py. Drop path 0.1 as DeiT-B's recipe (and mmpretrain's deit-base);
# DynamicViT's DeiT-B recipe raises it to 0.2 in its own configs.
_base_ = './deit-small-p16_fast-vit.py'
model = dict(
    backbone=dict(arch='deit-base', drop_path_rate=0.1),
    head=dict(in_channels=768))
