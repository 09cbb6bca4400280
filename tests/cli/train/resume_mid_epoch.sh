#!/bin/sh
# Two real processes (dp 2), shuffled epochs of 6 training samples (8 packed,
# 2 held out), 4 a step: a run stopped after step 2 (epoch 1, sample 2 of it)
# and resumed logs the same training and eval losses, digit for digit, as the
# uninterrupted run.
# usage: resume_mid_epoch.sh AUTOSP_BIN CONFIG TEXT_FILE WORKDIR
set -e
bin=$1; config=$2; text=$3; work=$4
rm -rf "$work"; mkdir -p "$work"; cd "$work"
"$bin" data prepare --tokenizer byte "$text" -o data.tok > /dev/null
run() { "$bin" launch -n 2 -- "$bin" train --config "$config" --data data.tok "$@"; }
run --steps 5 --metrics full.jsonl > full.log
run --steps 2 --save ckpt --metrics part.jsonl > part.log
run --steps 5 --save ckpt --resume ckpt --metrics part.jsonl > resumed.log
grep -q '"epoch": 1,' ckpt/step-000002/trainer_state.json
grep -q '"epoch_position": 2,' ckpt/step-000002/trainer_state.json
# nlohmann::json writes keys sorted: the loss comes before the step.
extract() { sed 's/.*"\(eval_loss\|loss\)":\([^,}]*\).*"step":\([0-9]*\).*/\3 \1 \2/' "$1"; }
extract full.jsonl > full.txt; extract part.jsonl > part.txt
cat part.txt
if [ "$(grep -c . full.txt)" -ne 8 ]; then echo "expected 5 steps and 3 evaluations"; exit 1; fi
if ! diff full.txt part.txt; then echo "MISMATCH"; exit 1; fi
echo "the resumed run logs the same losses as the uninterrupted one"
