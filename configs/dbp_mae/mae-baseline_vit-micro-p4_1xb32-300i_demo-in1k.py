# Baseline of the DBP-MAE demo: the micro MAE of configs/demo (96-dim ViT, 4 blocks, 4 px patches,
# 64 px demo images, 300 iterations on CPU) plus what the comparison measures: the validation
# reconstruction loss on the demo val split (ValLossLoop, fixed masks), energy/CO2 (codecarbon)
# and the loss-vs-time curve (TimeToTargetHook). dbp-mae_vit-micro-p4_1xb32-300i_demo-in1k.py is
# this config plus DBP and nothing else.
_base_ = ['../demo/mae_vit-micro-p4_1xb32-300i_demo-in1k.py']

val_dataloader = dict(
    batch_size=50,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='ImageNet',
        data_root='data/demo_in1k/',
        split='val',
        pipeline=[
            dict(type='LoadCheckedImageFromFile'),
            dict(type='ResizeEdge', scale=64, edge='short', backend='pillow', interpolation='bicubic'),
            dict(type='CenterCrop', crop_size=64),
            dict(type='PackInputs'),
        ]))
val_cfg = dict(type='ValLossLoop', seed=0)  # MAE has no predict mode: validate its loss
val_evaluator = dict(type='MeanLossMetric')
train_cfg = dict(val_interval=20)

default_hooks = dict(checkpoint=dict(save_best='val_loss', rule='less'))
custom_hooks = [
    dict(type='EmissionsHook', country_iso_code='NLD', interval=50, measure_power_secs=5),
    dict(type='TimeToTargetHook', monitor='val/val_loss'),
]
