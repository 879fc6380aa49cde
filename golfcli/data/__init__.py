"""Challenge data: shards, loaders, tokenizers, and the `golf data` stage functions."""
