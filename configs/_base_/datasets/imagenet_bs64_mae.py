# ImageNet-1K for MAE-style pre-training: 64 images per GPU, 224 px random resized crops.
# The model config chooses the algorithm; the data preprocessor below normalises in RGB.
dataset_type = 'ImageNet'
data_root = 'data/imagenet/'
data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

# mmpretrain's MAE augmentation (LoadImageFromFile, RandomResizedCrop(224, (0.2, 1.0), Pillow
# bicubic), RandomFlip(0.5)) in one FastRandomResizedCrop: it decodes only the crop's region of
# each JPEG (bit-identical to OpenCV's full decode), resizes with Pillow's filter, flips, and draws
# crop and flip from the same random stream as mmpretrain's transforms; outputs within
# interpolation rounding of mmpretrain's, ~2.5x the images per CPU second (docs/benchmarks.md,
# "Data loading"). It names unreadable files like LoadChecked* and takes skip_bad_samples too.
# MAE, GreenMIM and MIRL pre-training inherit it.
train_pipeline = [
    dict(type='FastRandomResizedCrop', scale=224, crop_ratio_range=(0.2, 1.0),
         interpolation='bicubic', flip_prob=0.5),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline))
