"""Training: the loop, Muon, schedules, EMA/SWA, QAT switching, torch.distributed helpers, run dirs.

Plain functions for the CLI and the pipeline:
    train(cfg, out_dir, max_steps=None, max_seconds=None, resume=False, ...) -> summary dict
    average_checkpoint(run_dir, out, mode="ema", decay=None) -> summary dict
"""

from golfcli.train.average_run import average_checkpoint
from golfcli.train.loop import train

__all__ = ["train", "average_checkpoint"]
