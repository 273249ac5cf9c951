# MIRL ViT-S-54, 800 epochs (40 warm-up + 760 cosine), otherwise as the 300-epoch config.
_base_ = './mirl_vit-small-54-p16_8xb64-accum8-amp-coslr-300e_in1k.py'

param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=40,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=760, by_epoch=True, begin=40, end=800,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=800)
