"""`autosp train` with tensorboard and csv_monitor enabled and a validation
split: TensorBoard's own reader (the `tensorboard` package's EventAccumulator,
which checks every record's masked CRC32C) finds every scalar at the steps and
with the values of the JSONL metrics log (to float32, the simple_value type),
and the CSV files hold exactly the JSONL values.

    monitors_match_jsonl.py AUTOSP_BIN WORKDIR
"""
import csv
import json
import math
import os
import shutil
import struct
import subprocess
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

autosp, work = sys.argv[1], sys.argv[2]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
config = {
    "train_batch_size": 2, "train_micro_batch_size_per_gpu": 2, "steps_per_print": 2,
    "optimizer": {"type": "AdamW", "params": {"lr": 1e-2}},
    "model": {"architectures": ["LlamaForCausalLM"], "vocab_size": 256, "hidden_size": 32,
              "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4,
              "max_position_embeddings": 64},
    "data": {"seq_len": 32},
    "autosp": {"validation": {"fraction": 0.05, "interval": 3, "max_batches": 2}},
    "tensorboard": {"enabled": True, "output_path": os.path.join(work, "tb"), "job_name": "job"},
    "csv_monitor": {"enabled": True, "output_path": os.path.join(work, "csv"), "job_name": "job"},
}
with open(os.path.join(work, "ds.json"), "w") as f:
    json.dump(config, f)
metrics = os.path.join(work, "metrics.jsonl")
run = subprocess.run([autosp, "train", "--config", os.path.join(work, "ds.json"), "--steps", "7",
                      "--metrics", metrics], capture_output=True, text=True, timeout=600)
print(run.stdout + run.stderr)
assert run.returncode == 0, f"autosp train exited {run.returncode}"

expected = {}  # tag -> [(step, value)]
with open(metrics) as f:
    for line in f:
        j = json.loads(line)
        if "eval_loss" in j:
            pairs = [("eval/loss", j["eval_loss"]), ("eval/ppl", j["eval_ppl"])]
        else:
            pairs = [("train/loss", j["loss"]), ("train/lr", j["lr"]),
                     ("train/grad_norm", j["grad_norm"]), ("train/tokens_per_s", j["tokens_per_s"])]
        for tag, value in pairs:
            expected.setdefault(tag, []).append((j["step"], value))
assert [s for s, _ in expected["train/loss"]] == [2, 4, 6, 7], expected["train/loss"]
assert [s for s, _ in expected["eval/loss"]] == [3, 6, 7], expected["eval/loss"]
for s, (loss, ppl) in zip([3, 6, 7], zip(expected["eval/loss"], expected["eval/ppl"])):
    assert math.isclose(ppl[1], math.exp(loss[1]), rel_tol=1e-12)

def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]

tb_dir = os.path.join(work, "tb", "job")
files = [f for f in os.listdir(tb_dir) if f.startswith("events.out.tfevents.")]
assert len(files) == 1, files
first = next(iter(EventFileLoader(os.path.join(tb_dir, files[0])).Load()))
assert first.file_version == "brain.Event:2", first
acc = EventAccumulator(tb_dir, size_guidance={"scalars": 0})
acc.Reload()
assert sorted(acc.Tags()["scalars"]) == sorted(expected), acc.Tags()
for tag, want in expected.items():
    got = [(e.step, e.value) for e in acc.Scalars(tag)]
    assert got == [(s, f32(v)) for s, v in want], (tag, got, want)

csv_dir = os.path.join(work, "csv", "job")
assert sorted(os.listdir(csv_dir)) == sorted(t.replace("/", "_") + ".csv" for t in expected)
for tag, want in expected.items():
    with open(os.path.join(csv_dir, tag.replace("/", "_") + ".csv")) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["step", tag.split("/")[-1]], rows[0]
    got = [(int(s), float(v)) for s, v in rows[1:]]
    assert got == want, (tag, got, want)
print(f"tensorboard and csv match the JSONL log: {sum(len(v) for v in expected.values())} "
      f"values of {len(expected)} scalars")
