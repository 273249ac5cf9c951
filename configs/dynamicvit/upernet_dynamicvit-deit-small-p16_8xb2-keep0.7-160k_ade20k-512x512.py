# UPerNet + DynamicViT-S on ADE20K (mmseg's ViT recipe): DynamicViTSeg prunes to rho, rho^2, rho^3
# of the patch tokens before blocks 3, 6, 9 and returns full-resolution maps of blocks 2, 5, 8, 11
# (pruned tokens keep the feature they had when pruned); TokenPruningEncoderDecoder adds the
# keep-ratio loss to the segmentation losses. The backbone (with its trained prediction modules)
# starts from the DynamicViT classifier dynamicvit_deit-small-p16_8xb128-keep0.7-30e_in1k.py.
# Everything else is the dense baseline
# ../masked_finetune/upernet_deit-small-p16_8xb2-160k_ade20k-512x512.py.
_base_ = '../masked_finetune/upernet_deit-small-p16_8xb2-160k_ade20k-512x512.py'

keep_ratio = 0.7
model = dict(
    type='TokenPruningEncoderDecoder',
    ratio_loss=dict(type='TokenKeepRatioLoss', loss_weight=2.0),
    backbone=dict(
        type='DynamicViTSeg',
        keep_ratio=keep_ratio,
        pruning_locs=(3, 6, 9),
        init_cfg=dict(checkpoint='work_dirs/dynamicvit_deit-small-p16_8xb128-keep0.7-30e_in1k/'
                      'epoch_30.pth')))
