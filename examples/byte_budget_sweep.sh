#!/usr/bin/env bash
# Byte budget vs quality: quantize ONE checkpoint at several --target-bytes budgets (the planner
# picks each matrix's width so that packed model + code fit), pack each, check it with verify-size
# against that budget, evaluate each, and print a table of bytes vs bpb.
# Defaults use the CPU demo's outputs (run examples/cpu_demo.sh first); point CKPT/HESSIANS at a
# real run for real budgets, e.g.
#   CKPT=runs/record-1204/ema.safetensors HESSIANS=runs/record-1204/hessians.safetensors \
#   BUDGETS="16000000 15500000 15000000" DATA=./data/datasets/fineweb10B_sp1024 \
#   TOKENIZER=./data/tokenizers/fineweb_1024_bpe.model WINDOW=2048 STRIDE=64 bash examples/byte_budget_sweep.sh
set -euo pipefail

GOLF="${GOLF:-python -m golfcli}"              # single-process stages
EVAL_LAUNCH="${EVAL_LAUNCH:-$GOLF}"            # e.g. "torchrun --standalone --nproc_per_node=8 -m golfcli"
CKPT="${CKPT:-runs/cpu-demo/ema.safetensors}"  # float checkpoint to quantize
HESSIANS="${HESSIANS:-${CKPT%/*}/hessians.safetensors}"  # calibrated when missing
OUT="${OUT:-runs/byte-sweep}"
DATA="${DATA:-runs/cpu-demo/data}"
TOKENIZER="${TOKENIZER:-$DATA/tokenizer.model}"
BUDGETS="${BUDGETS:-208000 168000 138000}"     # model + code bytes, one run per value
# Code bytes counted in each budget: by default the submission script `golf bundle` writes (the
# golfcli code that loads and evaluates an artifact); CODE_BYTES=0 makes the budgets model bytes only.
CODE_BYTES="${CODE_BYTES:-}"
PLAN_BITS="${PLAN_BITS:-4,5,6,7,8}"            # widths the planner may choose from
CALIB_SEQS="${CALIB_SEQS:-4}"                  # used only when $HESSIANS is missing
CALIB_LEN="${CALIB_LEN:-128}"
QUANT_ARGS="${QUANT_ARGS:---passthrough-max 1024}"  # the tiny model's matrices are small: quantize them
EVAL_TOKENS="${EVAL_TOKENS:-16384}"            # 0 = the whole validation split
WINDOW="${WINDOW:-128}"
STRIDE="${STRIDE:-64}"
EVAL_ARGS="${EVAL_ARGS:-}"

mkdir -p "$OUT"
max_tokens=()
if [ "$EVAL_TOKENS" -gt 0 ]; then max_tokens=(--max-tokens "$EVAL_TOKENS"); fi

code=()
if [ -z "$CODE_BYTES" ]; then
    $GOLF bundle --out "$OUT/submission.py" --json > "$OUT/bundle.json"
    CODE_BYTES=$(wc -c < "$OUT/submission.py")
    code=(--code "$OUT/submission.py")
elif [ "$CODE_BYTES" -eq 0 ]; then
    : > "$OUT/no_code.txt"
    code=(--code "$OUT/no_code.txt")
fi

if [ ! -e "$HESSIANS" ]; then
    HESSIANS="$OUT/hessians.safetensors"
    echo "== gptq-calibrate ${CALIB_SEQS}x${CALIB_LEN} -> $HESSIANS"
    $GOLF gptq-calibrate "$CKPT" --out "$HESSIANS" --seqs "$CALIB_SEQS" --seq-len "$CALIB_LEN" --json > "$OUT/calibrate.json"
fi

for budget in $BUDGETS; do
    dir="$OUT/$budget"
    mkdir -p "$dir"
    echo "== budget $budget bytes -> $dir"
    # shellcheck disable=SC2086  # *_ARGS are word lists
    $GOLF quantize "$CKPT" --out "$dir/quantized.safetensors" --hessians "$HESSIANS" \
        --target-bytes "$budget" --code-bytes "$CODE_BYTES" --plan-bits "$PLAN_BITS" $QUANT_ARGS --json > "$dir/quantize.json"
    $GOLF pack "$dir/quantized.safetensors" --out "$dir/artifact.bin" --json > "$dir/pack.json"
    # verify-size exits 1 when over; the table reports it instead of stopping the sweep
    rc=0
    $GOLF verify-size "$dir/artifact.bin" --limit "$budget" "${code[@]}" --json > "$dir/size.json" || rc=$?
    if [ "$rc" -gt 1 ]; then echo "verify-size failed (exit $rc)" >&2; exit "$rc"; fi
    # shellcheck disable=SC2086
    $EVAL_LAUNCH eval-sliding "$dir/artifact.bin" --data "$DATA" --tokenizer "$TOKENIZER" \
        --window "$WINDOW" --stride "$STRIDE" "${max_tokens[@]}" $EVAL_ARGS --json > "$dir/eval_sliding.json"
done

python - "$OUT" $BUDGETS <<'PY'
import json, sys
out, budgets = sys.argv[1], sys.argv[2:]
rows = []
print(f"{'budget':>12} {'artifact':>12} {'estimated':>12} {'fits':>5}  {'widths':<30} {'bpb':>8}")
for b in budgets:
    q, size, ev = (json.load(open(f"{out}/{b}/{n}")) for n in ("quantize.json", "size.json", "eval_sliding.json"))
    widths = " ".join(f"{k}:{v}" for k, v in sorted(q["bits_histogram"].items()))
    print(f"{int(b):>12,} {size['model_bytes']:>12,} {q['estimated_bytes']:>12,} {str(size['fits']):>5}  {widths:<30} {ev['val_bpb']:>8.4f}")
    rows.append({"budget": int(b), "model_bytes": size["model_bytes"], "total_bytes": size["total_bytes"],
                 "estimated_bytes": q["estimated_bytes"], "fits": size["fits"], "bits": q["bits_histogram"],
                 "val_bpb": ev["val_bpb"], "partial": ev["partial"]})
json.dump(rows, open(f"{out}/sweep.json", "w"), indent=1)
PY
