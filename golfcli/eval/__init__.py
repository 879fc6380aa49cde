"""The eval stage: standard and sliding-window bpb, the Hedge mixer, score-first TTT.

`evaluate(model, tokens, byte_tables, mode=...)` is the entry point; see docs/EVAL.md for the rules.
This stage never imports train, quant or artifact: it takes a model and a token stream.
"""

from golfcli.eval.runner import MODES, evaluate, plan_for, write_per_token

__all__ = ["MODES", "evaluate", "plan_for", "write_per_token"]
