#!/bin/sh
# Crash safety of checkpoint saves, proven by killing the trainer before each
# rename and unlink it makes (AUTOSP_TEST_KILL_AT_FS_OP=k, atomic_file.h) in
# the riskiest save: re-saving step 4 while `latest` names step 4 (a run
# resumed from step 2). After every kill, `latest` must resolve, the next
# start must repair the directory (no .tmp-*/.old-* left) and resume at
# step 4, and the weights must be the uninterrupted run's, byte for byte.
#   kill_at_every_fs_op.sh AUTOSP_BIN CONFIG WORKDIR
set -eu
bin=$1 config=$2 work=$3
rm -rf "$work" && mkdir -p "$work" && cd "$work"
"$bin" train --config "$config" --steps 4 --save base > base.log 2>&1
test "$(cat base/latest)" = step-000004
k=1
recovered=0
while :; do
  rm -rf d && cp -r base d
  rc=0
  AUTOSP_TEST_KILL_AT_FS_OP=$k "$bin" train --config "$config" --steps 4 --save d \
    --resume d/step-000002 > kill.log 2>&1 || rc=$?
  if [ $rc -eq 0 ]; then break; fi
  if [ $rc -ne 9 ]; then echo "op $k: exit $rc, expected a kill (9)"; cat kill.log; exit 1; fi
  # `latest` resolves without any repair ...
  "$bin" train --config "$config" --steps 4 --resume d > peek.log 2>&1 ||
    { echo "op $k: latest does not resolve"; cat peek.log; exit 1; }
  # ... and a start with --save repairs the directory and resumes at step 4.
  "$bin" train --config "$config" --steps 4 --save d --resume d > resume.log 2>&1 ||
    { echo "op $k: resume failed"; cat resume.log; exit 1; }
  grep -q "resumed from d/step-000004 at step 4 (checksums verified)" resume.log ||
    { echo "op $k: did not resume at step 4"; cat resume.log; exit 1; }
  if grep -q "recovered step-000004" resume.log; then recovered=$((recovered + 1)); fi
  if ls -a d | grep -q -e '^\.tmp-' -e '^\.old-' -e '^\.latest\.tmp\.'; then
    echo "op $k: stale files left"; ls -a d; exit 1
  fi
  cmp d/step-000004/model.safetensors base/step-000004/model.safetensors ||
    { echo "op $k: step 4's weights differ from the uninterrupted run"; exit 1; }
  k=$((k + 1))
done
echo "killed before each of $((k - 1)) renames/unlinks; latest resolved every time; $recovered recovered a step moved aside"
