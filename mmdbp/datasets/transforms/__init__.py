from .checked_loading import (LoadCheckedAnnotations, LoadCheckedImageFromFile,  # noqa: F401
                              use_checked_loaders)
from .device_decode import (DEVICE_DECODE_META_KEYS, DeviceDecodeDataPreprocessor,  # noqa: F401
                            DeviceDecodeRandomResizedCrop)
from .fast_resized_crop import FastRandomResizedCrop, resize_like_pillow  # noqa: F401
