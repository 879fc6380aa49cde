#!/usr/bin/env bash
# The whole Parameter Golf pipeline on a laptop CPU, one stage at a time, on golf's built-in corpus
# (Python's own documentation: no download). Every stage writes into $OUT:
#   data/ → train/ → ema.safetensors → hessians.safetensors → quantized.safetensors → artifact.bin
#   → size.json → eval.json, eval_sliding.json   (plus one <stage>.json report per stage)
# Takes a few minutes with the defaults; every knob below can be set from the environment, e.g.
#   MAX_STEPS=50 OUT=/tmp/demo bash examples/cpu_demo.sh
set -euo pipefail

GOLF="${GOLF:-python -m golfcli}"          # how to run golf (single process)
PRESET="${PRESET:-tiny}"                   # model preset (`golf presets`)
OUT="${OUT:-runs/cpu-demo}"                # every stage's file lands here
DATA="${DATA:-$OUT/data}"                  # shard directory; built with `golf data builtin` when empty
TOKENIZER="${TOKENIZER:-$DATA/tokenizer.model}"
MAX_STEPS="${MAX_STEPS:-200}"              # training steps (the tiny preset's full schedule is 200)
TRAIN_ARGS="${TRAIN_ARGS:-}"               # extra `golf train` flags, e.g. "--set train.seq_len=64"
CALIB_SEQS="${CALIB_SEQS:-4}"              # self-generated calibration sequences...
CALIB_LEN="${CALIB_LEN:-128}"              # ...of this many tokens
TEMPERATURE="${TEMPERATURE:-0.8}"          # sampling temperature of the calibration text
ATTN_BITS="${ATTN_BITS:-int7}"
MLP_BITS="${MLP_BITS:-int5}"
PASSTHROUGH_MAX="${PASSTHROUGH_MAX:-1024}" # the tiny model's matrices are < 65,536 elements: quantize them anyway
EVAL_TOKENS="${EVAL_TOKENS:-16384}"        # validation tokens to score (0 = the whole split)
SEQ_LEN="${SEQ_LEN:-128}"                  # standard eval sequence length
WINDOW="${WINDOW:-128}"                    # sliding eval window...
STRIDE="${STRIDE:-64}"                     # ...and stride

mkdir -p "$OUT"
max_tokens=()
if [ "$EVAL_TOKENS" -gt 0 ]; then max_tokens=(--max-tokens "$EVAL_TOKENS"); fi

echo "== 1. data: the built-in corpus -> $DATA"
if [ ! -e "$DATA/fineweb_val_000000.bin" ]; then
    $GOLF data builtin --out "$DATA" --json > "$OUT/data.json"
fi

echo "== 2. train: preset $PRESET, $MAX_STEPS steps -> $OUT/train"
# shellcheck disable=SC2086  # TRAIN_ARGS is a list of flags
$GOLF train --preset "$PRESET" --data "$DATA" --tokenizer "$TOKENIZER" --out "$OUT/train" \
    --max-steps "$MAX_STEPS" $TRAIN_ARGS --json > "$OUT/train.json"

echo "== 3. ema: the weight average kept during training -> $OUT/ema.safetensors"
$GOLF ema "$OUT/train" --out "$OUT/ema.safetensors" --json > "$OUT/ema.json"

echo "== 4. gptq-calibrate: ${CALIB_SEQS}x${CALIB_LEN} self-generated tokens -> $OUT/hessians.safetensors"
$GOLF gptq-calibrate "$OUT/ema.safetensors" --out "$OUT/hessians.safetensors" \
    --seqs "$CALIB_SEQS" --seq-len "$CALIB_LEN" --temperature "$TEMPERATURE" --json > "$OUT/calibrate.json"

echo "== 5. quantize: GPTQ, attention $ATTN_BITS, MLP $MLP_BITS -> $OUT/quantized.safetensors"
$GOLF quantize "$OUT/ema.safetensors" --out "$OUT/quantized.safetensors" --hessians "$OUT/hessians.safetensors" \
    --attn "$ATTN_BITS" --mlp "$MLP_BITS" --passthrough-max "$PASSTHROUGH_MAX" --json > "$OUT/quantize.json"

echo "== 6. pack -> $OUT/artifact.bin"
$GOLF pack "$OUT/quantized.safetensors" --out "$OUT/artifact.bin" --json > "$OUT/pack.json"

echo "== 7. bundle the scoring code into $OUT/submission.py; verify-size: artifact + it against 16,000,000 bytes"
$GOLF bundle --out "$OUT/submission.py" --json > "$OUT/bundle.json"
$GOLF verify-size "$OUT/artifact.bin" --code "$OUT/submission.py" --json > "$OUT/size.json"

echo "== 8. eval: standard (sequences of $SEQ_LEN) and sliding (window $WINDOW, stride $STRIDE) on the artifact"
$GOLF eval "$OUT/artifact.bin" --data "$DATA" --tokenizer "$TOKENIZER" --seq-len "$SEQ_LEN" \
    "${max_tokens[@]}" --json > "$OUT/eval.json"
$GOLF eval-sliding "$OUT/artifact.bin" --data "$DATA" --tokenizer "$TOKENIZER" \
    --window "$WINDOW" --stride "$STRIDE" "${max_tokens[@]}" --json > "$OUT/eval_sliding.json"

python - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
load = lambda name: json.load(open(f"{out}/{name}"))
size, std, sld = load("size.json"), load("eval.json"), load("eval_sliding.json")
print(f"artifact     {size['model_bytes']:>12,} bytes  (+ code {size['code_bytes']:,} = {size['total_bytes']:,}; fits: {size['fits']})")
print(f"standard     {std['val_bpb']:>12.4f} bpb   ({std['tokens_scored']:,} targets{', partial' if std['partial'] else ''})")
print(f"sliding      {sld['val_bpb']:>12.4f} bpb   ({sld['tokens_scored']:,} targets{', partial' if sld['partial'] else ''})")
PY
