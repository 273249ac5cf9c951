# UPerNet + EViT on the demo ViT, 64x64 demo ADE20K set, 500 iterations on one CPU; the backbone
# starts from the plain demo classifier (EViT has no parameters of its own).
_base_ = '../masked_finetune/upernet_vit-demo-d12-p8_1xb8-500i_demo-ade20k-64x64.py'

keep_rate = 0.7
model = dict(
    backbone=dict(type='EViTSeg', keep_rate=keep_rate, pruning_locs=(3, 6, 9), fuse_token=True))
