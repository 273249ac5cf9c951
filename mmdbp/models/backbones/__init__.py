from .vit import FastMAEViT, FastVisionTransformer  # noqa: F401
