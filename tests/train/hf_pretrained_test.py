"""Pretrained weights in and out, checked against HF transformers.

In: random HF models saved with `save_pretrained` (one file and sharded, fp32
and bf16; Llama, Qwen2 with tied embeddings and q/k/v biases, GPT-2) are the
start of `autosp train --init-from DIR` (or `"model": {"pretrained": DIR}`);
one step at lr 0 must give HF's loss and global gradient norm on the same
tokens (relative 1e-5, fp32), on one rank and with SP=2 over two processes.

Out: `autosp export` of a trained checkpoint must load with
`AutoModelForCausalLM.from_pretrained`, hold exactly the checkpoint's weights
(fp32; bf16 = the fp32 rounded), and give, in HF, the loss autosp computes
from that folder.

Strict loads: an extra tensor (a Qwen3 checkpoint's q/k norms under a Llama
config), a missing one and a misshaped one are errors naming them.
"""
import argparse
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import torch
import transformers
from safetensors.torch import load_file, save_file

TOL = 1e-5
SEQ = 48


def llama_config(**kw):
    c = dict(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
             rms_norm_eps=1e-5, tie_word_embeddings=False)
    c.update(kw)
    return transformers.LlamaConfig(**c)


def qwen2_config():
    return transformers.Qwen2Config(vocab_size=96, hidden_size=32, intermediate_size=64,
                                    num_hidden_layers=2, num_attention_heads=4,
                                    num_key_value_heads=2, max_position_embeddings=128,
                                    rms_norm_eps=1e-6, tie_word_embeddings=True,
                                    use_sliding_window=False)


def gpt2_config():
    return transformers.GPT2Config(vocab_size=96, n_embd=32, n_layer=2, n_head=4, n_positions=128,
                                   resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)


def make_folder(path, config, dtype, shard):
    torch.manual_seed(7)
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    # Nothing is left at a special value (HF zero-inits biases, ones norms).
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model = model.to(dtype)
    model.save_pretrained(path, safe_serialization=True,
                          max_shard_size="40KB" if shard else "10GB")
    files = sorted(os.listdir(path))
    sharded = "model.safetensors.index.json" in files
    assert sharded == shard, files
    return model


def write_tokens(path, n, vocab, seed):
    rng = np.random.default_rng(seed)
    np.save(path, rng.integers(0, vocab, size=n).astype(np.uint16))
    return np.load(path).astype(np.int64)


def hf_loss_and_norm(folder, tokens):
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    model.eval()  # no dropout (autosp applies none)
    ids = torch.tensor(tokens[:SEQ]).unsqueeze(0)
    labels = torch.tensor(tokens[1:SEQ + 1]).unsqueeze(0)
    logits = model(input_ids=ids).logits
    loss = torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), labels.view(-1))
    loss.backward()
    loss = loss.detach()
    sq = sum(float(p.grad.double().pow(2).sum()) for p in model.parameters() if p.grad is not None)
    return loss.item(), math.sqrt(sq)


def ds_config(path, model, lr, extra_autosp=None):
    c = {
        "train_micro_batch_size_per_gpu": 1,
        "steps_per_print": 1,
        "optimizer": {"type": "AdamW", "params": {"lr": lr}},
        "compile": {"deepcompile": True, "passes": ["autosp"]},
        "data": {"seq_len": SEQ},
        "autosp": {"seed": 99, "shuffle": False},  # sample 0 first, as the HF side takes it
    }
    if model is not None:
        c["model"] = model
    c["autosp"].update(extra_autosp or {})
    with open(path, "w") as f:
        json.dump(c, f)


def run(cmd, expect_rc=0):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != expect_rc:
        print(p.stdout, p.stderr, sep="\n")
        raise AssertionError(f"{cmd}: exit {p.returncode}, expected {expect_rc}")
    return p.stdout + p.stderr


def first_metrics(path):
    with open(path) as f:
        return json.loads(f.readline())


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-30)


def check_step(autosp, work, name, folder, tokens_path, tokens, sp, via_config):
    cfg = os.path.join(work, f"{name}-sp{sp}.json")
    metrics = os.path.join(work, f"{name}-sp{sp}.jsonl")
    if os.path.exists(metrics):
        os.remove(metrics)
    if via_config:
        ds_config(cfg, {"pretrained": folder}, 0.0)
        args = []
    else:
        ds_config(cfg, None, 0.0)
        args = ["--init-from", folder]
    if sp > 1:
        with open(cfg) as f:
            c = json.load(f)
        c["sequence_parallel_size"] = sp
        with open(cfg, "w") as f:
            json.dump(c, f)
    cmd = [autosp, "train", "--config", cfg, "--data", tokens_path, "--steps", "1",
           "--metrics", metrics] + args
    if sp > 1:
        cmd = [autosp, "launch", "-n", str(sp), "--"] + cmd
    out = run(cmd)
    assert "weights: " + folder in out, out
    m = first_metrics(metrics)
    loss, norm = hf_loss_and_norm(folder, tokens)
    e_loss, e_norm = rel(m["loss"], loss), rel(m["grad_norm"], norm)
    print(f"  {name:28s} sp={sp}: loss autosp {m['loss']:.8f} HF {loss:.8f} (rel {e_loss:.1e}) | "
          f"grad norm autosp {m['grad_norm']:.8f} HF {norm:.8f} (rel {e_norm:.1e})")
    assert e_loss <= TOL and e_norm <= TOL, name
    return m


def check_strict(autosp, work, tokens_path):
    base = os.path.join(work, "strict-base")
    make_folder(base, llama_config(), torch.float32, shard=False)
    weights = load_file(os.path.join(base, "model.safetensors"))
    cases = {}
    # Qwen3's q/k norms under a Llama config: was dropped silently.
    extra = dict(weights)
    extra["model.layers.0.self_attn.q_norm.weight"] = torch.ones(8)
    extra["model.layers.0.self_attn.k_norm.weight"] = torch.ones(8)
    cases["extra"] = (extra, "2 not in the model: 'model.layers.0.self_attn.k_norm.weight', "
                             "'model.layers.0.self_attn.q_norm.weight'")
    missing = dict(weights)
    del missing["model.norm.weight"]
    cases["missing"] = (missing, "1 missing: 'model.norm.weight' [32]")
    misshaped = dict(weights)
    misshaped["lm_head.weight"] = torch.zeros(95, 32)
    cases["misshaped"] = (misshaped, "1 of the wrong shape: 'lm_head.weight' is [95, 32], "
                                     "the model's [96, 32]")
    cfg = os.path.join(work, "strict.json")
    ds_config(cfg, None, 0.0)
    for name, (tensors, message) in cases.items():
        folder = os.path.join(work, f"strict-{name}")
        os.makedirs(folder, exist_ok=True)
        shutil.copy(os.path.join(base, "config.json"), folder)
        save_file(tensors, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
        for cmd in ([autosp, "train", "--config", cfg, "--data", tokens_path, "--steps", "1",
                     "--init-from", folder],
                    [autosp, "check", "--model", os.path.join(folder, "config.json"), "--seq", "16",
                     "--weights", folder]):
            out = run(cmd, expect_rc=2)
            assert message in out, f"{name}: {out}"
        print(f"  strict {name}: refused, naming {message.split(': ', 1)[1]}")


def check_export(autosp, work, folder, tokens_path, tokens):
    save = os.path.join(work, "trained")
    cfg = os.path.join(work, "export-train.json")
    ds_config(cfg, {"pretrained": folder}, 1e-2)
    run([autosp, "train", "--config", cfg, "--data", tokens_path, "--steps", "3", "--save", save])
    ckpt = load_file(os.path.join(save, "step-000003", "model.safetensors"))
    for dtype, torch_dtype, shard in (("fp32", torch.float32, "30KB"), ("bf16", torch.bfloat16, "5GiB")):
        out = os.path.join(work, f"exported-{dtype}")
        run([autosp, "export", "--checkpoint", save, "-o", out, "--dtype", dtype,
             "--max-shard-size", shard])
        model = transformers.AutoModelForCausalLM.from_pretrained(out, dtype="auto")
        assert model.dtype == torch_dtype, model.dtype
        state = model.state_dict()
        for name, t in ckpt.items():
            assert torch.equal(state[name], t.to(torch_dtype)), name
        n_files = len([f for f in os.listdir(out) if f.endswith(".safetensors")])
        print(f"  export {dtype}: {len(ckpt)} tensors in {n_files} file(s) equal the checkpoint's")
        if dtype == "fp32":
            # The exported folder in HF and in autosp: same loss and gradient norm.
            check_step(autosp, work, "exported-fp32 re-import", out, tokens_path, tokens, 1, False)
    # The folder must be new or empty; nothing is overwritten.
    msg = run([autosp, "export", "--checkpoint", save, "-o", os.path.join(work, "exported-fp32")],
              expect_rc=2)
    assert "not empty" in msg, msg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--autosp", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)
    torch.manual_seed(0)
    tokens_path = os.path.join(a.workdir, "tokens.npy")
    tokens = write_tokens(tokens_path, 4 * SEQ + 1, 96, seed=3)

    print("pretrained in: one step at lr 0 vs HF (loss, global grad norm; rel tol 1e-5)")
    cases = [
        ("llama fp32 one file", llama_config(), torch.float32, False, False),
        ("llama bf16 sharded", llama_config(), torch.bfloat16, True, True),
        ("qwen2 tied fp32 sharded", qwen2_config(), torch.float32, True, False),
        ("gpt2 fp32 one file", gpt2_config(), torch.float32, False, True),
    ]
    folders = {}
    for name, config, dtype, shard, via_config in cases:
        folder = os.path.join(a.workdir, name.replace(" ", "-"))
        make_folder(folder, config, dtype, shard)
        folders[name] = folder
        check_step(a.autosp, a.workdir, name, folder, tokens_path, tokens, 1, via_config)
    check_step(a.autosp, a.workdir, "llama bf16 sharded", folders["llama bf16 sharded"],
               tokens_path, tokens, 2, False)
    print("strict loading")
    check_strict(a.autosp, a.workdir, tokens_path)
    print("weights out")
    check_export(a.autosp, a.workdir, folders["llama fp32 one file"], tokens_path, tokens)
    print("PASS")


if __name__ == "__main__":
    sys.exit(main())
