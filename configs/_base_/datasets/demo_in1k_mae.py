# The embedded demo classification set (python tools/make_demo_data.py) for MAE pre-training:
# same as imagenet_bs64_mae.py but 64 px images, random resized crops to 64 px (`img_size`).
_base_ = './imagenet_bs64_mae.py'

data_root = 'data/demo_in1k/'
img_size = 64
train_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.35, 1.0), backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
