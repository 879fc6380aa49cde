"""Where the data lives: the challenge layout by default."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_DATA_DIR = "./data/datasets/fineweb10B_sp1024"
DEFAULT_TOKENIZER = "./data/tokenizers/fineweb_1024_bpe.model"


@dataclass
class DataConfig:
    """Dataset directory (challenge shards) and the SentencePiece model that made them."""

    data_dir: str = DEFAULT_DATA_DIR
    tokenizer: str = DEFAULT_TOKENIZER
