#!/usr/bin/env bash
# PR #1453 (3 shared blocks × 4 repeats, d=880) as it runs, stage by stage, on 8×H100:
#   train 600 s (torchrun, 8 ranks; progressive depth 2→3→4) → EMA → GPTQ calibration on
#   64×2048 self-generated tokens (T 0.8, full depth) → GPTQ int7 attention / int5 MLP / int7
#   embeddings → pack → verify-size → sliding eval (window 1024, stride 256) and the Hedge mixer
#   over the same windows (torchrun).
# Needs the challenge data (`golf data download --variant sp1024 --out ./data`).
# Every knob is an environment variable; NPROC=1 runs single-process (CPU or one GPU).
set -euo pipefail

PRESET="${PRESET:-recur-3x4}"
OUT="${OUT:-runs/recur-3x4}"
DATA="${DATA:-./data/datasets/fineweb10B_sp1024}"
TOKENIZER="${TOKENIZER:-./data/tokenizers/fineweb_1024_bpe.model}"
NPROC="${NPROC:-8}"
if [ "$NPROC" -gt 1 ]; then default_launch="torchrun --standalone --nproc_per_node=$NPROC -m golfcli"
else default_launch="python -m golfcli"; fi    # one process: no torchrun, no NCCL (CPU works too)
LAUNCH="${LAUNCH:-$default_launch}"            # multi-rank stages: train and eval
GOLF="${GOLF:-python -m golfcli}"              # single-process stages
TRAIN_SECONDS="${TRAIN_SECONDS:-600}"
TRAIN_ARGS="${TRAIN_ARGS:-}"                   # extra train flags, e.g. "--max-steps 20"
CALIB_SEQS="${CALIB_SEQS:-64}"
CALIB_LEN="${CALIB_LEN:-2048}"
TEMPERATURE="${TEMPERATURE:-0.8}"
ATTN_BITS="${ATTN_BITS:-int7}"
MLP_BITS="${MLP_BITS:-int5}"
EMBED_BITS="${EMBED_BITS:-int7}"
QUANT_ARGS="${QUANT_ARGS:-}"                   # extra quantize flags, e.g. "--clip sdclip:12.85"
EVAL_TOKENS="${EVAL_TOKENS:-0}"                # 0 = the whole validation split
WINDOW="${WINDOW:-1024}"
STRIDE="${STRIDE:-256}"
EVAL_ARGS="${EVAL_ARGS:-}"                     # extra flags for both evals
HEDGE_ARGS="${HEDGE_ARGS:---check-normalization}"  # extra hedge flags, e.g. "--set eval.hedge_eta=0.3"

mkdir -p "$OUT"
max_tokens=()
if [ "$EVAL_TOKENS" -gt 0 ]; then max_tokens=(--max-tokens "$EVAL_TOKENS"); fi

echo "== train: $PRESET, ${TRAIN_SECONDS}s, $NPROC process(es) -> $OUT/train"
# shellcheck disable=SC2086  # LAUNCH / *_ARGS are word lists
$LAUNCH train --preset "$PRESET" --data "$DATA" --tokenizer "$TOKENIZER" --out "$OUT/train" \
    --max-seconds "$TRAIN_SECONDS" $TRAIN_ARGS --json > "$OUT/train.json"

echo "== ema -> $OUT/ema.safetensors"
$GOLF ema "$OUT/train" --out "$OUT/ema.safetensors" --json > "$OUT/ema.json"

echo "== gptq-calibrate: ${CALIB_SEQS}x${CALIB_LEN} self-generated, T $TEMPERATURE"
$GOLF gptq-calibrate "$OUT/ema.safetensors" --out "$OUT/hessians.safetensors" --source selfgen \
    --seqs "$CALIB_SEQS" --seq-len "$CALIB_LEN" --temperature "$TEMPERATURE" --json > "$OUT/calibrate.json"

echo "== quantize: attention $ATTN_BITS, MLP $MLP_BITS, embeddings $EMBED_BITS"
# shellcheck disable=SC2086
$GOLF quantize "$OUT/ema.safetensors" --out "$OUT/quantized.safetensors" --hessians "$OUT/hessians.safetensors" \
    --attn "$ATTN_BITS" --mlp "$MLP_BITS" --embed "$EMBED_BITS" $QUANT_ARGS --json > "$OUT/quantize.json"

echo "== pack -> $OUT/artifact.bin"
$GOLF pack "$OUT/quantized.safetensors" --out "$OUT/artifact.bin" --json > "$OUT/pack.json"

echo "== verify-size: artifact + the bundled scoring code (exit 1 when over the cap)"
$GOLF bundle --out "$OUT/submission.py" --json > "$OUT/bundle.json"
$GOLF verify-size "$OUT/artifact.bin" --code "$OUT/submission.py" --json > "$OUT/size.json"

echo "== eval-sliding and eval-hedge: window $WINDOW, stride $STRIDE, $NPROC process(es)"
# shellcheck disable=SC2086
$LAUNCH eval-sliding "$OUT/artifact.bin" --data "$DATA" --tokenizer "$TOKENIZER" \
    --window "$WINDOW" --stride "$STRIDE" "${max_tokens[@]}" $EVAL_ARGS --json > "$OUT/eval_sliding.json"
# shellcheck disable=SC2086
$LAUNCH eval-hedge "$OUT/artifact.bin" --data "$DATA" --tokenizer "$TOKENIZER" \
    --window "$WINDOW" --stride "$STRIDE" "${max_tokens[@]}" $EVAL_ARGS $HEDGE_ARGS --json > "$OUT/eval_hedge.json"

python - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
size, sld, hedge = (json.load(open(f"{out}/{n}")) for n in ("size.json", "eval_sliding.json", "eval_hedge.json"))
part = ", partial" if sld["partial"] else ""
print(f"artifact    {size['model_bytes']:,} + code {size['code_bytes']:,} = {size['total_bytes']:,} bytes (fits: {size['fits']})")
print(f"sliding bpb {sld['val_bpb']:.4f}  ({sld['tokens_scored']:,} targets{part})")
print(f"hedge bpb   {hedge['val_bpb']:.4f}  (neural {hedge['neural_bpb']:.4f}, gain {hedge['gain_bpb']:+.4f}{part})")
PY
