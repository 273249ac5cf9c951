# UPerNet fine-tuning of the baseline MAE ViT-B/16 (mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k-10pct.py)
# on a fixed random 10% of ADE20K's training set (seed 0), evaluated on the full val set (mIoU).
# mmseg's MAE + UPerNet recipe (configs/mae/mae-base_upernet_8xb2-amp-160k_ade20k-512x512.py):
# AdamW lr 1e-4, wd 0.05, layer-wise lr decay 0.65, 1500 warm-up iterations, poly decay, AMP,
# sliding-window evaluation (512x512 crops, stride 341),
# with mmseg's VisionTransformer + MultiLevelNeck + UPerHead and 16k iterations (10% of 160k for
# 10% of the data); the model and schedule are ../_base_/models/upernet_vit-base-p16.py and
# ../_base_/schedules/schedule_160k_adamw_layer-decay.py. The backbone is the pre-trained encoder
# converted by
#   python tools/model_converters/dbp_mae_to_vit.py work_dirs/mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k-10pct/epoch_300.pth \
#       work_dirs/mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k-10pct/vit_mmseg.pth --target mmseg
# dbp-mae-base_upernet_8xb2-amp-16k_ade20k-10pct-512x512.py differs only in that checkpoint.
_base_ = [
    '../_base_/models/upernet_vit-base-p16.py',
    '../_base_/datasets/ade20k_512x512.py',
    '../_base_/schedules/schedule_160k_adamw_layer-decay.py',
    '../_base_/default_runtime_seg.py',
]

model = dict(
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(init_cfg=dict(
        checkpoint='work_dirs/mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k-10pct/vit_mmseg.pth')),
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(341, 341)))

train_dataloader = dict(
    batch_size=2,
    dataset=dict(
        _delete_=True,
        type='RandomSubsetDataset',
        fraction=0.1,
        seed=0,
        dataset={{_base_.train_dataloader.dataset}}))

max_iters = 16000
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=1500, end=max_iters, by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=2000)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=2000, max_keep_ckpts=2,
                                     save_best='mIoU', rule='greater'))
custom_hooks = [
    dict(type='EmissionsHook', country_iso_code='NLD', interval=200),
    dict(type='TimeToTargetHook', monitor='val/mIoU'),
]
