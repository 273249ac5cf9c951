# Demo: UPerNet on the 64x64 demo ADE20K set from the baseline micro MAE encoder of
# mae-baseline_vit-micro-p4_1xb32-300i_demo-in1k.py (configs/demo's UPerNet recipe, 400 iterations, CPU),
# plus time/energy accounting. tools/run_demo.sh converts the encoder first:
#   python tools/model_converters/dbp_mae_to_vit.py work_dirs/demo/mae/iter_300.pth \
#       work_dirs/demo/mae/vit_mmseg.pth --target mmseg
_base_ = ['../demo/upernet_vit-micro-p4_1xb8-400i_demo-ade20k-64x64.py']

model = dict(backbone=dict(init_cfg=dict(checkpoint='work_dirs/demo/mae/vit_mmseg.pth')))
custom_hooks = [
    dict(type='EmissionsHook', country_iso_code='NLD', interval=50, measure_power_secs=5),
    dict(type='TimeToTargetHook', monitor='val/mIoU'),
]
