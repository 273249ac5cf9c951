from .checked_loading import LoadCheckedAnnotations, LoadCheckedImageFromFile  # noqa: F401
