# DeiT-B (Touvron et al., 2021) as an mmpretrain ImageClassifier on mmdbp's FastVisionTransformer;
# see deit-small-p16_fast-vit.py.
_base_ = './deit-small-p16_fast-vit.py'
model = dict(
    backbone=dict(arch='deit-base', drop_path_rate=0.2),
    head=dict(in_channels=768))
