from . import transforms  # noqa: F401
from .data_check import DataRootError, check_data_roots  # noqa: F401
from .file_errors import DataFileError, load_or_name, unreadable_reason  # noqa: F401
from .random_subset import RandomSubsetDataset, select_subset  # noqa: F401
