from .token_ratio_schedule_hook import TokenRatioScheduleHook  # noqa: F401
