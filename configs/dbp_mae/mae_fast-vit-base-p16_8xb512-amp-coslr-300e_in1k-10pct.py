# Baseline of DBP-MAE's main experiment: MAE ViT-B/16 (mmdbp's fast path, numerically the same
# network as mmpretrain's MAE ViT-B/16) pre-trained on a fixed random 10% of ImageNet-1K
# (class-stratified, seed 0: the same images on every rank and every run), MAE's recipe
# (AdamW lr 1.5e-4 x 4096/256, betas (0.9, 0.95), wd 0.05, 40 warm-up + cosine, 300 epochs, AMP,
# mask ratio 0.75, normalised-pixel loss). dbp-mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k-10pct.py
# is this config plus DBP and nothing else.
#
# What the comparison measures (as the paper): the validation reconstruction loss (MAE's loss on
# 5000 fixed ImageNet val images with fixed masks, ValLossLoop), time and energy to reach the
# baseline's best value (TimeToTargetHook, EmissionsHook: codecarbon, offline, country in the
# config), compared with tools/analysis/compare_runs.py.
_base_ = '../mae/mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k.py'

train_dataloader = dict(
    num_workers=10,
    dataset=dict(
        _delete_=True,
        type='RandomSubsetDataset',
        fraction=0.1,
        seed=0,
        stratify=True,
        dataset={{_base_.train_dataloader.dataset}}))

val_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]
val_dataloader = dict(
    batch_size=256,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type='RandomSubsetDataset',
        num_samples=5000,
        seed=0,
        stratify=True,
        dataset=dict(type='ImageNet', data_root='data/imagenet/', split='val',
                     pipeline=val_pipeline)))
val_cfg = dict(type='ValLossLoop', seed=0)
val_evaluator = dict(type='MeanLossMetric')
train_cfg = dict(val_interval=10)

default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=10, max_keep_ckpts=3, save_best='val_loss', rule='less'))
custom_hooks = [
    # codecarbon's offline tracker; set the country (and region) of the machine
    dict(type='EmissionsHook', country_iso_code='NLD', interval=100),
    dict(type='TimeToTargetHook', monitor='val/val_loss'),
]
