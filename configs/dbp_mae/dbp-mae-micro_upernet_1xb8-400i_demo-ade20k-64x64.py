# Demo: UPerNet from the DBP-MAE micro encoder (dbp-mae_vit-micro-p4_1xb32-300i_demo-in1k.py), its
# decorrelation matrices folded into the weights; otherwise identical to
# mae-micro_upernet_1xb8-400i_demo-ade20k-64x64.py:
#   python tools/model_converters/dbp_mae_to_vit.py work_dirs/demo/dbp-mae/iter_300.pth \
#       work_dirs/demo/dbp-mae/vit_mmseg.pth --target mmseg
_base_ = ['./mae-micro_upernet_1xb8-400i_demo-ade20k-64x64.py']

model = dict(backbone=dict(init_cfg=dict(checkpoint='work_dirs/demo/dbp-mae/vit_mmseg.pth')))
