#!/usr/bin/env python3
"""Independent cross-check of autosp's eager reference models against HF transformers.

For each tiny model below: build the HF model with random weights (every
parameter, biases and norm scales included, so that nothing is checked at a
trivial value), save config.json + model.safetensors under HF's names and a
batch, run `reference_dump` (our C++ reference), and compare the loss, the
logits and every parameter gradient with HF's, as relative errors
||ours - hf|| / ||hf|| <= 1e-5 in fp32.

HF shifts labels inside its loss; we compute HF's loss from its logits with the
same pre-shifted labels that our reference gets, so both sides see the same
definition: mean cross-entropy over labels != -100.

Never downloads anything (HF_HUB_OFFLINE=1): models come from configs.
"""
import argparse
import math
import os
import subprocess
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForCausalLM,
    GPT2Config,
    LlamaConfig,
    MistralConfig,
    Qwen2Config,
)

TOLERANCE = 1e-5

LLAMA_BASE = dict(vocab_size=96, hidden_size=64, intermediate_size=112, num_hidden_layers=2,
                  num_attention_heads=4, max_position_embeddings=256, rms_norm_eps=1e-5,
                  attention_dropout=0.0)
LLAMA3_SCALING = dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                      original_max_position_embeddings=8192)


def cases():
    """(name, HF config, batch options)."""
    yield "llama-gqa1-untied", LlamaConfig(**LLAMA_BASE, num_key_value_heads=1), {}
    yield "llama-gqa2-tied", LlamaConfig(**LLAMA_BASE, num_key_value_heads=2,
                                         tie_word_embeddings=True), {}
    yield "llama-mha-biases", LlamaConfig(**LLAMA_BASE, num_key_value_heads=4,
                                          attention_bias=True, mlp_bias=True), {}
    # Large positions so that all three llama3 regions (kept, smoothed, divided) matter.
    yield "llama-rope-llama3", LlamaConfig(
        **{**LLAMA_BASE, "max_position_embeddings": 131072}, num_key_value_heads=2,
        rope_theta=500000.0, rope_scaling=dict(LLAMA3_SCALING)), {"position_offset": 9000}
    yield "llama-rope-linear", LlamaConfig(**LLAMA_BASE, num_key_value_heads=2,
                                           rope_scaling={"type": "linear", "factor": 4.0}), {}
    yield "llama-head-dim-padding", LlamaConfig(
        **{**LLAMA_BASE, "hidden_size": 48}, head_dim=16, num_key_value_heads=2,
        pad_token_id=0), {"right_padding": 3}
    yield "qwen2-qkv-bias", Qwen2Config(**LLAMA_BASE, num_key_value_heads=2,
                                        tie_word_embeddings=True, rope_theta=1000000.0), {}
    yield "mistral-sliding-window", MistralConfig(**LLAMA_BASE, num_key_value_heads=1,
                                                  sliding_window=5), {}
    gpt2 = dict(vocab_size=96, n_embd=64, n_layer=2, n_head=4, n_positions=64, resid_pdrop=0.0,
                embd_pdrop=0.0, attn_pdrop=0.0)
    yield "gpt2-tied", GPT2Config(**gpt2), {}
    yield "gpt2-untied-padding", GPT2Config(**gpt2, n_inner=96, tie_word_embeddings=False), {
        "right_padding": 4}


def randomize(model, generator):
    """Every parameter random and O(1)-scaled, so that biases and norms are really checked."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=generator)
            if name.endswith("norm.weight") or ".ln_" in name and name.endswith(".weight"):
                p.copy_(1.0 + 0.1 * noise)
            elif p.dim() == 1:
                p.copy_(0.1 * noise)
            else:
                p.copy_(noise / math.sqrt(p.shape[-1] if p.shape[-1] > 1 else 1) * 0.8)


def make_batch(config, options, generator, batch=2, seq=12):
    vocab = config.vocab_size
    ids = torch.randint(0, vocab, (batch, seq), generator=generator)
    labels = torch.cat([ids[:, 1:], torch.full((batch, 1), -100)], dim=1)
    positions = torch.arange(seq).unsqueeze(0).expand(batch, seq) + options.get("position_offset", 0)
    out = {"input_ids": ids, "labels": labels, "position_ids": positions.contiguous()}
    pad = options.get("right_padding", 0)
    if pad:
        mask = torch.ones(batch, seq, dtype=torch.long)
        mask[1, seq - pad:] = 0  # second sequence is shorter
        pad_id = config.pad_token_id if config.pad_token_id is not None else 0
        ids[1, seq - pad:] = pad_id
        # No loss on padding, nor on predicting padding from the last real token.
        labels[:, :] = torch.cat([ids[:, 1:], torch.full((batch, 1), -100)], dim=1)
        labels[1, seq - pad - 1:] = -100
        out["attention_mask"] = mask
    return out


def rel_err(ours, theirs):
    ours = ours.double()
    theirs = theirs.double()
    denom = theirs.norm().item()
    diff = (ours - theirs).norm().item()
    return diff / denom if denom > 0 else diff


def prepare_case(name, config, options, workdir, seed, attn_implementation):
    """A randomized fp32 HF model and a batch, saved as config.json +
    model.safetensors + batch.safetensors under workdir/name."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    config.use_cache = False
    model = AutoModelForCausalLM.from_config(config, attn_implementation=attn_implementation,
                                             torch_dtype=torch.float32)
    model.eval()  # no dropout
    randomize(model, gen)
    case_dir = os.path.join(workdir, name)
    os.makedirs(case_dir, exist_ok=True)
    model.save_pretrained(case_dir, safe_serialization=True)
    batch = make_batch(config, options, gen)
    save_file(batch, os.path.join(case_dir, "batch.safetensors"))
    return model, case_dir, batch


def run_dump(name, dump, case_dir, extra_args=()):
    """Runs a dump tool on the case; its output tensors, or None (printed FAIL)."""
    out_path = os.path.join(case_dir, "ours.safetensors")
    proc = subprocess.run([dump, "--config", os.path.join(case_dir, "config.json"),
                           "--weights", os.path.join(case_dir, "model.safetensors"),
                           "--batch", os.path.join(case_dir, "batch.safetensors"),
                           "--out", out_path, *extra_args], capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"FAIL {name}: {os.path.basename(dump)} exited {proc.returncode}\n"
              f"{proc.stdout}{proc.stderr}")
        return None
    return load_file(out_path)


def run_cases(doc, cases, run_case, seed_base):
    """The command line both cross-checks share: --dump, --workdir, --only."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--dump", required=True, help="path to the dump binary")
    parser.add_argument("--workdir", required=True, help="scratch directory")
    parser.add_argument("--only", default="", help="run only cases whose name contains this")
    args = parser.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    os.makedirs(args.workdir, exist_ok=True)
    results = []
    for i, (name, config, options) in enumerate(cases()):
        if args.only and args.only not in name:
            continue
        results.append(run_case(name, config, options, args.dump, args.workdir, seed=seed_base + i))
    passed = sum(results)
    failed = len(results) - passed
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


def run_case(name, config, options, dump, workdir, seed):
    model, case_dir, batch = prepare_case(name, config, options, workdir, seed, "eager")

    # HF side.
    model.zero_grad()
    kwargs = {"input_ids": batch["input_ids"], "position_ids": batch["position_ids"]}
    if "attention_mask" in batch:
        kwargs["attention_mask"] = batch["attention_mask"]
    logits = model(**kwargs).logits.float()
    loss = F.cross_entropy(logits.view(-1, config.vocab_size), batch["labels"].view(-1),
                           ignore_index=-100)
    loss.backward()
    hf_grads = {n: p.grad for n, p in model.named_parameters()}

    # Our side.
    ours = run_dump(name, dump, case_dir)
    if ours is None:
        return False

    failures = []
    checks = [("loss", ours["loss"], loss.detach()), ("logits", ours["logits"], logits.detach())]
    our_grads = {k[len("grad."):]: v for k, v in ours.items() if k.startswith("grad.")}
    if set(our_grads) != set(hf_grads):
        failures.append(f"parameter sets differ: only ours {sorted(set(our_grads) - set(hf_grads))}, "
                        f"only HF {sorted(set(hf_grads) - set(our_grads))}")
    for n in sorted(set(our_grads) & set(hf_grads)):
        checks.append((f"grad {n}", our_grads[n], hf_grads[n]))
    worst = 0.0
    for what, a, b in checks:
        if a.shape != b.shape:
            failures.append(f"{what}: shape {tuple(a.shape)} vs HF {tuple(b.shape)}")
            continue
        e = rel_err(a, b)
        worst = max(worst, e)
        if not e <= TOLERANCE:
            failures.append(f"{what}: relative error {e:.3e} > {TOLERANCE:g}")
    if failures:
        print(f"FAIL {name}:\n  " + "\n  ".join(failures))
        return False
    print(f"ok   {name}: loss {loss.item():.6f}, {len(checks) - 2} gradients, "
          f"worst relative error {worst:.2e}")
    return True


def main():
    return run_cases(__doc__, cases, run_case, seed_base=1234)


if __name__ == "__main__":
    sys.exit(main())
