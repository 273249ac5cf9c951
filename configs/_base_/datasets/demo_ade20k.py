# The embedded demo segmentation set (python tools/make_demo_data.py): ADE20K layout and labels,
# 64x64 scenes. Same as ade20k_512x512.py but 64x64 crops; evaluation on whole images.
_base_ = './ade20k_512x512.py'

data_root = 'data/demo_ade20k'
crop_size = (64, 64)
scale = (256, 64)
data_preprocessor = dict(size=crop_size)

train_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='LoadCheckedAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=scale, ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='LoadCheckedAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=2,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
