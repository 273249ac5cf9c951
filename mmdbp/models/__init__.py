from . import backbones, classifiers, heads, losses, necks, segmentors, selfsup, utils  # noqa: F401
