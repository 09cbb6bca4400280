#!/usr/bin/env python3
"""Isolated document packing against HF transformers run on each document alone.

For each tiny model: random fp32 weights (hf_crosscheck.randomize), and a
batch of two packed rows of uneven documents (row 0: 7 + 13 + 4 + 9 tokens,
row 1: 20 + 3 + 10), each document's labels shifted within it (its last token
-100, so nothing predicts the next document), its position ids from 0 and a
segment id per document.
  - HF: every document run alone (input_ids and position_ids of that document
    only, eager attention), per-token cross-entropy summed over all documents
    of both rows and divided by the number of non-ignored labels (the global
    token mean), one backward;
  - ours: `compiled_dump --dtype f32` on the packed batch with its segment_ids
    (train::CompileCausalLm with a segment_ids input: segmented_attention),
    single device, and sequence-parallel over 2 and 4 in-process ranks (S = 33
    padded to 34 / 36; the 13-token document spans ranks 0 and 1 at SP=2, and
    ranks 0 to 2 at SP=4), and with --autosp over 2 real processes
    (`autosp launch -n 2`, Gloo).
Loss and every parameter gradient: relative error ||ours - hf|| / ||hf|| <= 1e-5.
Control: the same packed batch without segment ids (attention across
documents, i.e. autosp.packing "concat") must differ from HF by more than 1e-3,
so the comparison can fail.
"""
import os
import subprocess
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import argparse  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig, Qwen2Config  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_crosscheck import LLAMA_BASE, randomize, rel_err  # noqa: E402

TOLERANCE = 1e-5
CONTROL_MIN_ERROR = 1e-3
ROWS = [[7, 13, 4, 9], [20, 3, 10]]  # document lengths; both rows 33 tokens


def cases():
    yield "llama-gqa2", LlamaConfig(**LLAMA_BASE, num_key_value_heads=2)
    yield "qwen2-qkv-bias-tied", Qwen2Config(**LLAMA_BASE, num_key_value_heads=1,
                                             tie_word_embeddings=True)
    yield "gpt2", GPT2Config(vocab_size=96, n_embd=64, n_layer=2, n_head=4, n_positions=64,
                             resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)


def make_packed_batch(vocab, generator):
    """The packed rows, and each row's documents as (ids, labels) for HF."""
    ids, labels, positions, segments, docs = [], [], [], [], []
    for lengths in ROWS:
        row_ids, row_labels, row_pos, row_seg, row_docs = [], [], [], [], []
        for d, n in enumerate(lengths):
            doc = torch.randint(0, vocab, (n,), generator=generator)
            lab = torch.cat([doc[1:], torch.tensor([-100])])
            row_ids.append(doc)
            row_labels.append(lab)
            row_pos.append(torch.arange(n))
            row_seg.append(torch.full((n,), d))
            row_docs.append((doc, lab))
        ids.append(torch.cat(row_ids))
        labels.append(torch.cat(row_labels))
        positions.append(torch.cat(row_pos))
        segments.append(torch.cat(row_seg))
        docs.extend(row_docs)
    batch = {"input_ids": torch.stack(ids), "labels": torch.stack(labels),
             "position_ids": torch.stack(positions), "segment_ids": torch.stack(segments)}
    return batch, docs


def hf_per_document(model, config, docs):
    model.zero_grad()
    total = 0.0
    count = 0
    for doc, lab in docs:
        logits = model(input_ids=doc[None], position_ids=torch.arange(len(doc))[None]).logits
        total = total + F.cross_entropy(logits.float().view(-1, config.vocab_size), lab,
                                        ignore_index=-100, reduction="sum")
        count += int((lab != -100).sum())
    loss = total / count
    loss.backward()
    return loss.detach(), {n: p.grad.detach().clone() for n, p in model.named_parameters()}


def run_ours(cmd_prefix, dump, case_dir, batch_file, extra, tag):
    out_path = os.path.join(case_dir, f"ours-{tag}.safetensors")
    cmd = [*cmd_prefix, dump, "--config", os.path.join(case_dir, "config.json"),
           "--weights", os.path.join(case_dir, "model.safetensors"), "--batch", batch_file,
           "--out", out_path, "--dtype", "f32", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"  {tag}: {' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}{proc.stderr}")
        return None
    return load_file(out_path)


def compare(ours, loss, hf_grads):
    """(loss error, worst gradient error and its name, problems)."""
    problems = []
    our_grads = {k[len("grad."):]: v for k, v in ours.items() if k.startswith("grad.")}
    if set(our_grads) != set(hf_grads):
        problems.append(f"parameter sets differ: {sorted(set(our_grads) ^ set(hf_grads))}")
    loss_err = rel_err(ours["loss"], loss)
    worst, worst_name = 0.0, ""
    for n in sorted(set(our_grads) & set(hf_grads)):
        e = rel_err(our_grads[n], hf_grads[n])
        if not e <= worst:
            worst, worst_name = e, n
    return loss_err, worst, worst_name, problems


def run_case(name, config, args, seed):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    config.use_cache = False
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager",
                                             torch_dtype=torch.float32)
    model.eval()
    randomize(model, gen)
    case_dir = os.path.join(args.workdir, name)
    os.makedirs(case_dir, exist_ok=True)
    model.save_pretrained(case_dir, safe_serialization=True)
    batch, docs = make_packed_batch(config.vocab_size, gen)
    packed = os.path.join(case_dir, "packed.safetensors")
    save_file(batch, packed)
    concat = os.path.join(case_dir, "concat.safetensors")
    save_file({k: v for k, v in batch.items() if k != "segment_ids"}, concat)

    loss, hf_grads = hf_per_document(model, config, docs)

    runs = [("sp1", [], packed, ["--sp", "1"]), ("sp2", [], packed, ["--sp", "2"]),
            ("sp4", [], packed, ["--sp", "4"])]
    if args.autosp:
        runs.append(("sp2-launch", [args.autosp, "launch", "-n", "2", "--"], packed,
                     ["--sp", "2"]))
    ok = True
    for tag, prefix, batch_file, extra in runs:
        ours = run_ours(prefix, args.dump, case_dir, batch_file, extra, tag)
        if ours is None:
            ok = False
            continue
        loss_err, worst, worst_name, problems = compare(ours, loss, hf_grads)
        good = not problems and loss_err <= TOLERANCE and worst <= TOLERANCE
        ok = ok and good
        print(f"{'ok  ' if good else 'FAIL'} {name} {tag}: loss {ours['loss'].item():.6f} vs HF "
              f"{loss.item():.6f} (rel {loss_err:.2e}), max grad rel error {worst:.2e} "
              f"({worst_name}) {'; '.join(problems)}")
    ours = run_ours([], args.dump, case_dir, concat, ["--sp", "1"], "concat-control")
    if ours is None:
        return False
    loss_err, worst, _, _ = compare(ours, loss, hf_grads)
    control = max(loss_err, worst) > CONTROL_MIN_ERROR
    print(f"{'ok  ' if control else 'FAIL'} {name} control without segment ids: loss rel "
          f"{loss_err:.2e}, max grad rel {worst:.2e} (must exceed {CONTROL_MIN_ERROR:g})")
    return ok and control


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dump", required=True, help="path to compiled_dump")
    parser.add_argument("--workdir", required=True, help="scratch directory")
    parser.add_argument("--autosp", default="", help="the autosp binary: also run over 2 processes")
    parser.add_argument("--only", default="", help="run only cases whose name contains this")
    args = parser.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    os.makedirs(args.workdir, exist_ok=True)
    results = []
    for i, (name, config) in enumerate(cases()):
        if args.only and args.only not in name:
            continue
        results.append(run_case(name, config, args, seed=500 + i))
    passed = sum(results)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if results and passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
