from .token_ratio_schedule_hook import TokenRatioScheduleHook  # noqa: F401
from .emissions_hook import EmissionsHook  # noqa: F401
from .time_to_target_hook import TimeToTargetHook  # noqa: F401
from .reconstruction_vis_hook import ReconstructionVisHook  # noqa: F401
from .atomic_checkpoint_hook import AtomicCheckpointHook  # noqa: F401
from .exact_resume_hook import ExactResumeHook  # noqa: F401
from .non_finite_loss_hook import NonFiniteLossHook  # noqa: F401
