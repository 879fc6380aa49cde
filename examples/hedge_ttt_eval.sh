#!/usr/bin/env bash
# Two eval-time extras on a saved model (an artifact.bin, a quantized file or a float checkpoint):
#   1. the Hedge mixer: the model mixed online with unigram/bigram/trigram distributions of tokens
#      already scored (normalization checked at sampled positions), and
#   2. score-first test-time training: each chunk is scored, then the model trains on it.
# Both over the same sliding windows; the hedge report also gives the plain sliding bpb ("neural").
# Defaults use the CPU demo's artifact (run examples/cpu_demo.sh first). On 8 GPUs:
#   MODEL=runs/recur-3x4/artifact.bin LAUNCH="torchrun --standalone --nproc_per_node=8 -m golfcli" \
#   DATA=./data/datasets/fineweb10B_sp1024 TOKENIZER=./data/tokenizers/fineweb_1024_bpe.model \
#   EVAL_TOKENS=0 WINDOW=1024 STRIDE=256 TTT_CHUNK_TOKENS=32768 bash examples/hedge_ttt_eval.sh
set -euo pipefail

LAUNCH="${LAUNCH:-python -m golfcli}"          # or torchrun ... -m golfcli: both evals run on every rank
MODEL="${MODEL:-runs/cpu-demo/artifact.bin}"
OUT="${OUT:-runs/hedge-ttt}"
DATA="${DATA:-runs/cpu-demo/data}"
TOKENIZER="${TOKENIZER:-$DATA/tokenizer.model}"
EVAL_TOKENS="${EVAL_TOKENS:-16384}"            # 0 = the whole validation split
WINDOW="${WINDOW:-128}"
STRIDE="${STRIDE:-64}"
EVAL_ARGS="${EVAL_ARGS:-}"                     # extra flags for both, e.g. "--batch-seqs 64"
HEDGE_ARGS="${HEDGE_ARGS:-}"                   # e.g. "--set eval.hedge_eta=0.3 --set eval.hedge_table_size=16384"
TTT_EPOCHS="${TTT_EPOCHS:-3}"
TTT_LR="${TTT_LR:-0.002}"
TTT_CHUNK_TOKENS="${TTT_CHUNK_TOKENS:-4096}"   # targets per chunk (scored, then trained on)
TTT_SEQ_LEN="${TTT_SEQ_LEN:-$WINDOW}"          # training sequence length inside a chunk
TTT_ARGS="${TTT_ARGS:-}"                       # e.g. "--set eval.ttt_momentum=0.8"

mkdir -p "$OUT"
max_tokens=()
if [ "$EVAL_TOKENS" -gt 0 ]; then max_tokens=(--max-tokens "$EVAL_TOKENS"); fi

echo "== eval-hedge: $MODEL, window $WINDOW, stride $STRIDE"
# shellcheck disable=SC2086  # LAUNCH / *_ARGS are word lists
$LAUNCH eval-hedge "$MODEL" --data "$DATA" --tokenizer "$TOKENIZER" --window "$WINDOW" --stride "$STRIDE" \
    "${max_tokens[@]}" --check-normalization $EVAL_ARGS $HEDGE_ARGS --json > "$OUT/eval_hedge.json"

echo "== eval-sliding --ttt: chunks of $TTT_CHUNK_TOKENS targets, $TTT_EPOCHS epochs, lr $TTT_LR"
# shellcheck disable=SC2086
$LAUNCH eval-sliding "$MODEL" --data "$DATA" --tokenizer "$TOKENIZER" --window "$WINDOW" --stride "$STRIDE" \
    "${max_tokens[@]}" --ttt --ttt-epochs "$TTT_EPOCHS" --ttt-lr "$TTT_LR" --ttt-chunk-tokens "$TTT_CHUNK_TOKENS" \
    --set eval.ttt_seq_len="$TTT_SEQ_LEN" $EVAL_ARGS $TTT_ARGS --json > "$OUT/eval_ttt.json"

python - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
hedge, ttt = (json.load(open(f"{out}/{n}")) for n in ("eval_hedge.json", "eval_ttt.json"))
part = ", partial" if hedge["partial"] else ""
print(f"sliding (no extras) {hedge['neural_bpb']:.4f} bpb{part}")
print(f"hedge               {hedge['val_bpb']:.4f} bpb  (gain {hedge['gain_bpb']:+.4f}; "
      f"max normalization error {hedge.get('max_normalization_error', float('nan')):.1e})")
print(f"ttt                 {ttt['val_bpb']:.4f} bpb  (gain {hedge['neural_bpb'] - ttt['val_bpb']:+.4f}; "
      f"{ttt['ttt_trained_chunks']} of {ttt['ttt_chunks']} chunks trained on)")
PY
