# The demo classifier of the token-pruning configs: a 12-block, 64-wide ViT with 8 px patches on
# 64 px images (8 x 8 = 64 patch tokens), so DynamicViT's / EViT's pruning blocks 3, 6, 9 exist and
# a run takes seconds per epoch on one CPU core. No mixup (10 classes, small data).
vit_arch = dict(embed_dims=64, num_layers=12, num_heads=2, feedforward_channels=256)
model = dict(
    type='ImageClassifier',
    backbone=dict(type='FastVisionTransformer', arch=vit_arch, img_size=64, patch_size=8,
                  drop_path_rate=0.1),
    neck=None,
    head=dict(
        type='VisionTransformerClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, )))
