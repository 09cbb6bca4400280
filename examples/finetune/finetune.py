"""Long-context fine-tuning, end to end, the way a user does it.

1. A "pretrained" model: a small Llama saved by transformers' save_pretrained
   (in real use: a downloaded HF folder), with a byte-level BPE tokenizer
   trained here on the bundled English text (in real use: the model's own
   tokenizer.json).
2. Data: a .jsonl corpus of documents of uneven lengths, tokenized by
   `autosp data prepare --tokenizer` (EOS after each document, document index).
3. Fine-tuning: `autosp train --init-from` on 2 ranks with sequence
   parallelism 2 and isolated packing (documents never attend to each other,
   positions restart per document), 50 steps.
4. Export: `autosp export` writes an HF folder; transformers loads it, and its
   loss on held-out text is below the starting model's.

Python drives the autosp binary only as a user's shell would; the product
itself never runs Python. Usage:
    python examples/finetune/finetune.py --autosp build/bin/autosp --workdir /tmp/ft
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

STEPS = 50
SEQ = 256
EOS = "<|endoftext|>"


def sh(cmd, **kw):
    print("$", " ".join(cmd), flush=True)
    p = subprocess.run(cmd, text=True, capture_output=True, **kw)
    sys.stdout.write(p.stdout[-4000:])
    sys.stderr.write(p.stderr[-4000:])
    if p.returncode != 0:
        raise SystemExit(f"failed with exit code {p.returncode}: {' '.join(cmd)}")
    return p.stdout


def documents(corpus_path):
    text = open(corpus_path, encoding="utf-8").read()
    return [d.strip() for d in text.split("\n\n") if d.strip()]


def make_pretrained(folder, docs):
    os.makedirs(folder, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=512, special_tokens=[EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(docs, trainer)
    tok.save(os.path.join(folder, "tokenizer.json"))
    eos_id = tok.token_to_id(EOS)
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": EOS,
                   "bos_token": None, "add_bos_token": False, "model_max_length": 4096}, f)
    config = transformers.LlamaConfig(
        vocab_size=tok.get_vocab_size(), hidden_size=64, intermediate_size=128,
        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        max_position_embeddings=1024, rms_norm_eps=1e-5, tie_word_embeddings=False,
        eos_token_id=eos_id, bos_token_id=eos_id)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config)
    model.save_pretrained(folder, safe_serialization=True, max_shard_size="100KB")
    return tok


def heldout_loss(folder, text):
    tok = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    model.eval()
    ids = torch.tensor([tok(text)["input_ids"][:SEQ]])
    with torch.no_grad():
        return model(input_ids=ids, labels=ids).loss.item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--autosp", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--corpus", default=os.path.join(os.path.dirname(__file__), "..", "..",
                                                     "data", "corpus", "english.txt"))
    a = ap.parse_args()
    shutil.rmtree(a.workdir, ignore_errors=True)
    os.makedirs(a.workdir)
    docs = documents(a.corpus)
    train_docs, heldout = docs[:-2], "\n\n".join(docs[-2:])

    # 1. The starting point.
    base = os.path.join(a.workdir, "pretrained")
    make_pretrained(base, docs)

    # 2. Data.
    corpus = os.path.join(a.workdir, "corpus.jsonl")
    with open(corpus, "w", encoding="utf-8") as f:
        for d in train_docs:
            f.write(json.dumps({"text": d}) + "\n")
    tokens = os.path.join(a.workdir, "train.tok")
    sh([a.autosp, "data", "prepare", "--tokenizer", base, corpus, "-o", tokens])

    # 3. Fine-tuning with SP=2 and isolated packing.
    config = os.path.join(a.workdir, "ds_config.json")
    with open(config, "w") as f:
        json.dump({
            "train_micro_batch_size_per_gpu": 2,
            "steps_per_print": 10,
            "optimizer": {"type": "AdamW", "params": {"lr": 3e-3, "weight_decay": 0.01}},
            "scheduler": {"type": "WarmupCosineLR",
                          "params": {"total_num_steps": STEPS, "warmup_num_steps": 5,
                                     "warmup_type": "linear"}},
            "gradient_clipping": 1.0,
            "zero_optimization": {"stage": 1},
            "compile": {"deepcompile": True, "passes": ["autosp"]},
            "sequence_parallel_size": 2,
            "model": {"pretrained": base},
            "data": {"path": tokens, "seq_len": SEQ},
            "autosp": {"packing": "isolated", "train_steps": STEPS, "seed": 1},
        }, f, indent=2)
    save = os.path.join(a.workdir, "run")
    sh([a.autosp, "launch", "-n", "2", "--", a.autosp, "train", "--config", config,
        "--save", save])

    # 4. Export, and load it where the user goes next.
    out = os.path.join(a.workdir, "finetuned")
    sh([a.autosp, "export", "--checkpoint", save, "-o", out, "--dtype", "bf16",
        "--tokenizer", base])
    before = heldout_loss(base, heldout)
    after = heldout_loss(out, heldout)
    print(f"held-out loss in transformers: pretrained {before:.4f} -> fine-tuned {after:.4f}")
    if not after < before - 0.5:
        raise SystemExit("the fine-tuned model did not learn the corpus")
    print("PASS")


if __name__ == "__main__":
    main()
