from .dynamic_vit_classifier import DynamicViTClassifier  # noqa: F401
