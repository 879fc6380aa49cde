"""Where the data lives: the challenge layout by default."""

from __future__ import annotations

from dataclasses import dataclass

from golfcli.config.base import require

DEFAULT_DATA_DIR = "./data/datasets/fineweb10B_sp1024"
DEFAULT_TOKENIZER = "./data/tokenizers/fineweb_1024_bpe.model"


@dataclass
class DataConfig:
    """Dataset directory (challenge shards) and the SentencePiece model that made them."""

    data_dir: str = DEFAULT_DATA_DIR
    tokenizer: str = DEFAULT_TOKENIZER

    def validate(self) -> "DataConfig":
        """Raise a SettingError for an empty path; return self (whether the files exist is the stage's check)."""
        for name in ("data_dir", "tokenizer"):
            require(bool(str(getattr(self, name)).strip()), f"data.{name}", "must not be empty")
        return self
