from .token_ratio_schedule_hook import TokenRatioScheduleHook  # noqa: F401
from .emissions_hook import EmissionsHook  # noqa: F401
from .time_to_target_hook import TimeToTargetHook  # noqa: F401
from .reconstruction_vis_hook import ReconstructionVisHook  # noqa: F401
