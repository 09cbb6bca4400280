#!/bin/sh
# DP=2 x SP=2 over 4 real processes vs one process, same global batch (4):
# the losses of every step agree to 1e-5 relative.
# usage: compare_dp_sp.sh AUTOSP_BIN CONFIG WORKDIR
set -e
bin=$1; config=$2; work=$3
rm -rf "$work"; mkdir -p "$work"
sed 's/"train_batch_size": 4,/"train_batch_size": 4, "sequence_parallel_size": 2,/' "$config" > "$work/dp2_sp2.json"
cp "$config" "$work/single.json"
sed -i "s|\"../../../examples/|\"$(cd "$(dirname "$config")/../../../examples" && pwd)/|" "$work/dp2_sp2.json" "$work/single.json"
# The corpus as ONE document, so that every micro-batch counts all its labels:
# with document boundaries masked (packing), each DP rank's loss is the token
# mean of its own micro-batch, which differs from the global batch's by design.
"$bin" data prepare --tokenizer byte "$(cd "$(dirname "$config")/../../.." && pwd)/data/corpus/english.txt" -o "$work/one.tok" > /dev/null
sed -i "s|\"data\": {\"seq_len\": 64}|\"data\": {\"seq_len\": 64, \"path\": \"$work/one.tok\"}|" "$work/dp2_sp2.json" "$work/single.json"
"$bin" train --config "$work/single.json" --steps 3 --metrics "$work/single.jsonl" > /dev/null
"$bin" launch -n 4 -- "$bin" train --config "$work/dp2_sp2.json" --steps 3 --metrics "$work/mesh.jsonl" > /dev/null
extract() { sed -n 's/.*"loss":\([-0-9.eE+]*\).*/\1/p' "$1"; }
extract "$work/single.jsonl" > "$work/a"; extract "$work/mesh.jsonl" > "$work/b"
paste "$work/a" "$work/b" | awk '
  { n++; d = $1 - $2; if (d < 0) d = -d; r = d / $1; if (r > worst) worst = r;
    printf "step %d single %.8f dp2xsp2 %.8f rel %.2e\n", n, $1, $2, r }
  END { if (n != 3 || worst > 1e-5) { print "MISMATCH"; exit 1 } print "losses agree" }'
