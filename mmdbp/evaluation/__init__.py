from . import metrics  # noqa: F401
from .metrics import MeanLossMetric  # noqa: F401
