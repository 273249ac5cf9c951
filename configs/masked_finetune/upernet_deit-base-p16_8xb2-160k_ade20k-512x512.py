# UPerNet + dense DeiT-B on ADE20K; see upernet_deit-small-p16_8xb2-160k_ade20k-512x512.py.
_base_ = [
    '../_base_/models/upernet_deit-base-p16_fast-vit.py',
    '../_base_/datasets/ade20k_512x512.py',
    '../_base_/schedules/schedule_160k_adamw_vit-upernet.py',
    '../_base_/default_runtime_seg.py',
]

crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(drop_path_rate=0.1, init_cfg=dict(
        type='Pretrained', prefix='backbone.',
        checkpoint='checkpoints/deit-base_pt-16xb64_in1k_20220216-db63c16c.pth')))
train_dataloader = dict(batch_size=2)
val_dataloader = dict(batch_size=1)
test_dataloader = val_dataloader
