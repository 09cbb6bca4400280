#!/usr/bin/env python3
"""Per-rank training state and step time: fp32 vs bf16, ZeRO 0/1/2, one run.

Trains the demo model (examples/tiny: tiny-llama, seq 256) on 4 ranks with the
seed's mesh (SP=4, DP=1) through `autosp launch -n 4 -- autosp train`, for each
precision and ZeRO stage, and prints one table: the training state each rank
holds (the trainer's own count, which `autosp plan` predicts), the optimizer
state (fp32 master + Adam moments) as a ratio to ZeRO-0's, and the step time
as a ratio to fp32 ZeRO-0. Also the mean loss of the last 20 steps, to show
bf16 trains (it is not a tolerance check: tests do that).

Usage: bench/zero_precision_bench.py [--autosp build/bin/autosp] [--steps 40]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}


def parse_bytes(text):
    m = re.fullmatch(r"([0-9.]+)\s*([KMGT]?i?B)", text.strip())
    if not m:
        raise ValueError(f"not a byte count: {text!r}")
    return float(m.group(1)) * UNITS[m.group(2)]


def run(autosp, config, steps, workdir):
    path = os.path.join(workdir, "ds.json")
    with open(path, "w") as f:
        json.dump(config, f)
    cmd = [autosp, "launch", "-n", "4", "--", autosp, "train", "--config", path,
           "--steps", str(steps)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=workdir)
    if out.returncode != 0:
        sys.exit(f"failed ({out.returncode}): {' '.join(cmd)}\n{out.stdout}\n{out.stderr}")
    text = out.stdout + out.stderr
    state = re.search(r"training state per rank: (\S+ ?\S*) = weights (\S+ ?\S*) \+ gradients "
                      r"(\S+ ?\S*) \+ fp32 master (\S+ ?\S*) \+ Adam moments (\S+ ?\S*?)(?: \(|$)",
                      text, re.M)
    summary = re.search(r"summary: \d+ steps in [0-9.]+ s \(([0-9.]+) steps/s", text)
    losses = [float(x) for x in re.findall(r"loss ([0-9.]+) \|", text)]
    if not state or not summary:
        sys.exit(f"could not read the run's output:\n{text}")
    total, weights, grads, master, moments = (parse_bytes(x) for x in state.groups())
    return {"total": total, "weights": weights, "grads": grads, "master": master,
            "moments": moments, "step_s": 1.0 / float(summary.group(1)),
            "losses": losses}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--autosp", default=os.path.join(ROOT, "build", "bin", "autosp"))
    ap.add_argument("--steps", type=int, default=40)
    args = ap.parse_args()
    with open(os.path.join(ROOT, "examples", "tiny", "ds_config.json")) as f:
        base = json.load(f)
    base["model"] = os.path.join(ROOT, "examples", "configs", "tiny-llama.json")
    base["sequence_parallel_size"] = 4
    base["steps_per_print"] = 1
    base["autosp"]["train_steps"] = args.steps
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for precision in ("fp32", "bf16"):
            for stage in (0, 1, 2):
                config = json.loads(json.dumps(base))
                config["zero_optimization"] = {"stage": stage}
                if precision == "bf16":
                    config["bf16"] = {"enabled": True}
                print(f"running {precision} ZeRO-{stage} ...", file=sys.stderr, flush=True)
                rows.append((precision, stage, run(args.autosp, config, args.steps, workdir)))
    ref = rows[0][2]

    def optimizer_state(precision, r):
        # fp32 master + moments; at fp32 ZeRO-0 the master is the weights themselves.
        master = r["weights"] if precision == "fp32" and r["master"] == 0 else r["master"]
        return master + r["moments"]
    print(f"\n# demo model (tiny-llama), 4 ranks: SP=4 x DP=1, seq 256, {args.steps} steps, "
          f"per-rank bytes as the trainer holds them")
    print(f"{'precision':9} {'ZeRO':>4} {'weights':>10} {'grads':>10} {'master':>10} "
          f"{'moments':>10} {'state':>10} {'opt/ZeRO-0':>10} {'step ms':>8} {'x fp32 Z0':>9} "
          f"{'loss (last 20)':>14}")
    for precision, stage, r in rows:
        opt = optimizer_state(precision, r)
        opt0 = optimizer_state(precision, next(x for p, s, x in rows if p == precision and s == 0))
        tail = r["losses"][-20:]
        print(f"{precision:9} {stage:>4} {r['weights']/1024:>8.1f}Ki {r['grads']/1024:>8.1f}Ki "
              f"{r['master']/1024:>8.1f}Ki {r['moments']/1024:>8.1f}Ki {r['total']/1024:>8.1f}Ki "
              f"{opt/opt0 if opt0 else 0:>10.3f} {r['step_s']*1e3:>8.1f} "
              f"{r['step_s']/ref['step_s']:>9.2f} {sum(tail)/max(len(tail),1):>14.4f}")
    print("# opt/ZeRO-0: fp32 master + Adam moments per rank vs ZeRO-0 of the same precision "
          "(ZeRO >= 1 shards them over all 4 ranks: 0.25)")


if __name__ == "__main__":
    main()
