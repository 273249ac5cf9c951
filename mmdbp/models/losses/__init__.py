from .mirl_residual_loss import MIRLResidualLoss  # noqa: F401
from .token_keep_ratio_loss import TokenKeepRatioLoss  # noqa: F401
