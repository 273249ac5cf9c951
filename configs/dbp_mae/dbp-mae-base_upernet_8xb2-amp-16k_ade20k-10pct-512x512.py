# UPerNet fine-tuning of the DBP-MAE ViT-B/16 (dbp-mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k-10pct.py):
# identical to mae-base_upernet_8xb2-amp-16k_ade20k-10pct-512x512.py except the backbone checkpoint,
# the DBP encoder with its decorrelation matrices folded into the weights (plain layers, no DBP
# during fine-tuning):
#   python tools/model_converters/dbp_mae_to_vit.py work_dirs/dbp-mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k-10pct/epoch_300.pth \
#       work_dirs/dbp-mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k-10pct/vit_mmseg.pth --target mmseg
_base_ = './mae-base_upernet_8xb2-amp-16k_ade20k-10pct-512x512.py'

model = dict(backbone=dict(init_cfg=dict(
    checkpoint='work_dirs/dbp-mae_fast-vit-base-p16_8xb512-amp-coslr-300e_in1k-10pct/vit_mmseg.pth')))
