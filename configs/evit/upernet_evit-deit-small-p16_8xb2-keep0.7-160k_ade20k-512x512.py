# UPerNet + EViT-S on ADE20K (mmseg's ViT recipe): EViTSeg keeps ceil(0.7 (N - 1)) tokens by cls
# attention inside blocks 3, 6, 9 (inattentive ones fused into one token, which the maps leave
# out) and returns full-resolution maps of blocks 2, 5, 8, 11; pruned tokens keep the feature they
# had when pruned. EViT adds no parameters: the backbone starts from mmpretrain's DeiT-S (or an
# EViT / masked-fine-tuned classifier, see the _maskft_ config), as the dense baseline
# ../masked_finetune/upernet_deit-small-p16_8xb2-160k_ade20k-512x512.py, which sets everything else.
_base_ = '../masked_finetune/upernet_deit-small-p16_8xb2-160k_ade20k-512x512.py'

keep_rate = 0.7
model = dict(
    backbone=dict(type='EViTSeg', keep_rate=keep_rate, pruning_locs=(3, 6, 9), fuse_token=True))
