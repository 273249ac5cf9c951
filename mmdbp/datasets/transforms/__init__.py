from .checked_loading import (LoadCheckedAnnotations, LoadCheckedImageFromFile,  # noqa: F401
                              use_checked_loaders)
