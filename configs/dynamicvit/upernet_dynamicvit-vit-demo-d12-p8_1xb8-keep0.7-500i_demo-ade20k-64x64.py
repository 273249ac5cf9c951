# UPerNet + DynamicViT on the demo ViT, 64x64 demo ADE20K set, 500 iterations on one CPU; the
# backbone starts from dynamicvit_vit-demo-d12-p8_1xb32-keep0.7-5e_demo-in1k.py.
_base_ = '../masked_finetune/upernet_vit-demo-d12-p8_1xb8-500i_demo-ade20k-64x64.py'

keep_ratio = 0.7
model = dict(
    type='TokenPruningEncoderDecoder',
    ratio_loss=dict(type='TokenKeepRatioLoss', loss_weight=2.0),
    backbone=dict(
        type='DynamicViTSeg',
        keep_ratio=keep_ratio,
        pruning_locs=(3, 6, 9),
        init_cfg=dict(checkpoint='work_dirs/dynamicvit_vit-demo-d12-p8_1xb32-keep0.7-5e_'
                      'demo-in1k/epoch_5.pth')))
