# imagenet_bs64_mae.py with JPEG decoding on the GPU: the workers read the files and draw the
# crop and flip (DeviceDecodeRandomResizedCrop: the same distribution and random stream as
# mmpretrain's LoadImageFromFile + RandomResizedCrop(224, (0.2, 1.0), Pillow bicubic) +
# RandomFlip); DeviceDecodeDataPreprocessor decodes the batch with nvJPEG
# (torchvision.io.decode_jpeg on the model's device), crops, resizes with Pillow's bicubic filter
# (PyTorch antialiased interpolation), flips and normalises. Files nvJPEG cannot take (not JPEG,
# CMYK, EXIF-rotated) are decoded in the worker. Opt-in: inherit this file instead of
# imagenet_bs64_mae.py. Its throughput row is pending (docs/benchmarks.md, Data loading).
_base_ = './imagenet_bs64_mae.py'

img_size = 224
data_preprocessor = dict(
    _delete_=True,
    type='DeviceDecodeDataPreprocessor',
    scale=img_size,
    interpolation='bicubic',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375])

train_pipeline = [
    dict(type='DeviceDecodeRandomResizedCrop', scale=img_size, crop_ratio_range=(0.2, 1.0),
         interpolation='bicubic', flip_prob=0.5),
    dict(type='PackInputs',
         meta_keys=('sample_idx', 'img_path', 'ori_shape', 'img_shape', 'flip', 'flip_direction',
                    'crop_bbox', 'decode_on_device')),
]
train_dataloader = dict(
    collate_fn=dict(type='pseudo_collate'),  # JPEG byte strings of different lengths
    dataset=dict(pipeline=train_pipeline))
