"""The GPT of every seed architecture (see gpt.py) and its recurrence schedule."""

from golfcli.model.build import build_model
from golfcli.model.cache import GenerationCache
from golfcli.model.gpt import GPT, check_config
from golfcli.model.linear import CastedLinear
from golfcli.model.recurrence import Layout, RecurrenceSchedule, VirtualLayer

__all__ = ["GPT", "build_model", "CastedLinear", "GenerationCache", "Layout", "RecurrenceSchedule", "VirtualLayer", "check_config"]
