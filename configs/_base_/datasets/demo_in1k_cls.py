# The embedded demo classification set (python tools/make_demo_data.py): 10 classes of 64 px
# images. Same as imagenet_bs64_cls.py but 64 px crops, light augmentation and the demo class names.
_base_ = './imagenet_bs64_cls.py'

data_root = 'data/demo_in1k/'
img_size = 64
data_preprocessor = dict(num_classes=10)
metainfo = dict(classes=('c00_circle_hstripes', 'c01_square_checker', 'c02_triangle_dots',
                         'c03_diamond_vstripes', 'c04_cross_rings', 'c05_ring_waves',
                         'c06_ellipse_diagstripes', 'c07_star_crosshatch', 'c08_hexagon_speckle',
                         'c09_crescent_gradient'))

train_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='RandomResizedCrop', scale=img_size, crop_ratio_range=(0.5, 1.0), backend='pillow',
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadCheckedImageFromFile'),
    dict(type='ResizeEdge', scale=img_size, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=img_size),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=50,
    num_workers=2,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=test_pipeline))
test_dataloader = val_dataloader
