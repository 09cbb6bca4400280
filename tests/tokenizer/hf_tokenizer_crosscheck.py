#!/usr/bin/env python3
"""autosp's C++ tokenizers against HF `tokenizers`, `transformers` and `sentencepiece`.

Nothing is downloaded: each tokenizer is trained here, at test time, on a
generated multilingual text, then saved as a model directory exactly as HF
or SentencePiece write it:
  gpt2          byte-level BPE, GPT-2's ByteLevel pre-tokenizer (add_prefix_space false)
  gpt2-prefix   the same vocab with add_prefix_space true
  gpt2-strip    the same with added tokens that lstrip / rstrip
  llama3        Split(Llama-3 regex) + ByteLevel, ignore_merges, Llama-3's special
                tokens, a TemplateProcessing post-processor that adds BOS
  qwen2         the llama3 vocab with Qwen2's regex and an NFC normalizer, and a
                normalized added word
  spm-bpe       SentencePiece BPE (identity normalization, byte fallback)
  spm-unigram   SentencePiece unigram (nmt_nfkc normalization)
  spm-fallback  spm-bpe's model beside an unsupported (Llama-2-style) tokenizer.json
`crosscheck`: every line of tests/tokenizer/corpus.jsonl (English, accents,
CJK, emoji, code, whitespace runs, CR LF, tabs, special tokens inside text)
and a few long generated documents go through `autosp data tokenize`; the
ids must equal HF tokenizers' encode(text, add_special_tokens=False) and
transformers' AutoTokenizer (for tokenizer.json), or SentencePiece's encode.
`prepare`: `autosp data prepare --tokenizer` on .txt and .jsonl files; the
.tok file's tokens and document starts must equal HF's ids plus BOS/EOS.
"""
import argparse
import json
import os
import pathlib
import random
import shutil
import struct
import subprocess
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import sentencepiece as spm  # noqa: E402
from tokenizers import (AddedToken, Regex, Tokenizer, models, normalizers,  # noqa: E402
                        pre_tokenizers, processors, trainers)
from transformers import AutoTokenizer  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                  r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
                 r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3_SPECIAL = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>",
                  "<|end_header_id|>", "<|eot_id|>"] + [
                      f"<|reserved_special_token_{i}|>" for i in range(8)]


def corpus_lines():
    with open(HERE / "corpus.jsonl", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f.read().split("\n") if line]


def training_text():
    """Deterministic multilingual sentences, plus the corpus itself."""
    rng = random.Random(0)
    words = {
        "en": "the of and to in is was that for it with as on be at by this had not are but from "
              "or have an they which one you were all we her she there would their will when who "
              "model training sequence parallel attention memory tokens context length".split(),
        "fr": "le la les de des un une et est pas pour que qui dans sur avec être été très où "
              "déjà français écrire élève naïve".split(),
        "de": "der die das und ist nicht ein eine mit für auf dem den über schön Straße größer "
              "Mädchen Grüße".split(),
        "ru": "и в не на я быть он с что а по это она этот к но они мы как из у который то за "
              "свой весь год от".split(),
        "zh": list("的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会"),
        "ja": "これは テスト です。 日本語 の 文章 を 書きます。 ひらがな カタカナ 漢字".split(),
        "ko": "나는 학교에 갑니다 오늘 날씨가 좋아요 한국어 문장 입니다".split(),
        "emoji": ["😀", "🚀", "👍", "❤️", "🍕", "🇯🇵", "👨‍👩‍👧", "🎉"],
        "code": ["def", "return", "if", "else", "for", "int", "x", "=", "+=", "==", "(", ")", "{",
                 "}", "[", "]", ";", "::", "->", "std::vector<int>", "self.", "print(", "0x1F"],
        "num": [str(rng.randint(0, 10**rng.randint(1, 7))) for _ in range(50)],
    }
    lines = []
    for i in range(6000):
        lang = rng.choice(list(words))
        n = rng.randint(3, 25)
        sep = "" if lang in ("zh",) else rng.choice([" ", " ", " ", "  ", "\t", "\n"])
        line = sep.join(rng.choice(words[lang]) for _ in range(n))
        if rng.random() < 0.3:
            line += rng.choice([".", "!", "?", "\r\n", "\n\n", "   ", ",", "..."])
        lines.append(line)
    return lines + corpus_lines() * 3


def write_json(path, obj):
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=1), encoding="utf-8")


def train_gpt2(root):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=1500, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(training_text(), trainer)
    tok.add_special_tokens(["<|user|>"])
    tok.add_tokens(["autosp"])
    d = root / "gpt2"
    d.mkdir()
    tok.save(str(d / "tokenizer.json"))
    write_json(d / "tokenizer_config.json", {"tokenizer_class": "GPT2TokenizerFast",
                                             "bos_token": "<|endoftext|>",
                                             "eos_token": "<|endoftext|>",
                                             "add_bos_token": False})
    # Variants of the same vocab: edits of the JSON, as other models ship it.
    base = json.loads((d / "tokenizer.json").read_text(encoding="utf-8"))
    prefix = json.loads(json.dumps(base))
    prefix["pre_tokenizer"]["add_prefix_space"] = True
    (root / "gpt2-prefix").mkdir()
    write_json(root / "gpt2-prefix" / "tokenizer.json", prefix)
    # transformers takes add_prefix_space from here (false when unset).
    config = json.loads((d / "tokenizer_config.json").read_text(encoding="utf-8"))
    write_json(root / "gpt2-prefix" / "tokenizer_config.json", {**config, "add_prefix_space": True})
    strip = json.loads(json.dumps(base))
    next_id = max(t["id"] for t in strip["added_tokens"]) + 1
    for t in strip["added_tokens"]:
        if t["content"] == "<|user|>":
            t["lstrip"] = t["rstrip"] = True
    strip["added_tokens"] += [
        {"id": next_id, "content": "<tool>", "single_word": False, "lstrip": True,
         "rstrip": False, "normalized": False, "special": True},
        {"id": next_id + 1, "content": "</tool>", "single_word": False, "lstrip": False,
         "rstrip": True, "normalized": False, "special": True},
    ]
    (root / "gpt2-strip").mkdir()
    write_json(root / "gpt2-strip" / "tokenizer.json", strip)
    shutil.copy(d / "tokenizer_config.json", root / "gpt2-strip")


def train_llama3(root):
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    trainer = trainers.BpeTrainer(vocab_size=2000, special_tokens=LLAMA3_SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(training_text(), trainer)
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
        special_tokens=[("<|begin_of_text|>", bos)])
    d = root / "llama3"
    d.mkdir()
    tok.save(str(d / "tokenizer.json"))
    # As Llama-3's: no add_bos_token; the post-processor adds BOS.
    write_json(d / "tokenizer_config.json", {"tokenizer_class": "PreTrainedTokenizerFast",
                                             "bos_token": "<|begin_of_text|>",
                                             "eos_token": "<|end_of_text|>"})
    qwen = json.loads((d / "tokenizer.json").read_text(encoding="utf-8"))
    qwen["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = QWEN2_PATTERN
    qwen["normalizer"] = {"type": "NFC"}
    qwen["model"]["ignore_merges"] = False
    qwen["post_processor"] = {"type": "ByteLevel", "add_prefix_space": False,
                              "trim_offsets": False, "use_regex": False}
    next_id = max(t["id"] for t in qwen["added_tokens"]) + 1
    qwen["added_tokens"].append({"id": next_id, "content": "résumé", "single_word": False,
                                 "lstrip": False, "rstrip": False, "normalized": True,
                                 "special": False})
    (root / "qwen2").mkdir()
    write_json(root / "qwen2" / "tokenizer.json", qwen)
    write_json(root / "qwen2" / "tokenizer_config.json",
               {"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "<|end_of_text|>",
                "bos_token": None, "add_bos_token": False})


def train_spm(root, name, model_type, **kwargs):
    d = root / name
    d.mkdir()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(training_text()),
                                   model_prefix=str(d / "sp"), vocab_size=1200,
                                   model_type=model_type, user_defined_symbols=["<tool>"],
                                   minloglevel=2, **kwargs)
    (d / "sp.model").rename(d / "tokenizer.model")
    (d / "sp.vocab").unlink()
    write_json(d / "tokenizer_config.json", {"bos_token": "<s>", "eos_token": "</s>",
                                             "add_bos_token": True})


def build_all(root):
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    train_gpt2(root)
    train_llama3(root)
    train_spm(root, "spm-bpe", "bpe", normalization_rule_name="identity",
              remove_extra_whitespaces=False, byte_fallback=True, character_coverage=0.9995)
    train_spm(root, "spm-unigram", "unigram", character_coverage=0.9995)
    # As a Llama-2 directory: a tokenizer.json autosp does not support (Metaspace,
    # byte fallback) beside the tokenizer.model; autosp falls back to the model.
    shutil.copytree(root / "spm-bpe", root / "spm-fallback")
    write_json(root / "spm-fallback" / "tokenizer.json", {
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"}, {"type": "Replace", "pattern": {"String": " "},
                                                      "content": "\u2581"}]},
        "pre_tokenizer": None,
        "model": {"type": "BPE", "byte_fallback": True, "vocab": {}, "merges": []}})
    return ["gpt2", "gpt2-prefix", "gpt2-strip", "llama3", "qwen2", "spm-bpe", "spm-unigram",
            "spm-fallback"]


def reference_encoders(d):
    """(name, encode(text) -> ids) of the reference libraries for tokenizer directory d."""
    if (d / "tokenizer.json").exists() and not d.name.startswith("spm"):
        tok = Tokenizer.from_file(str(d / "tokenizer.json"))
        auto = AutoTokenizer.from_pretrained(str(d))
        return [("tokenizers", lambda t: tok.encode(t, add_special_tokens=False).ids),
                (f"transformers.{type(auto).__name__}",
                 lambda t: auto.encode(t, add_special_tokens=False))]
    sp = spm.SentencePieceProcessor(model_file=str(d / "tokenizer.model"))
    return [("sentencepiece", lambda t: sp.encode(t))]


def autosp_tokenize(autosp, d, jsonl):
    out = subprocess.run([autosp, "data", "tokenize", "--tokenizer", str(d), str(jsonl)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"autosp data tokenize --tokenizer {d} failed ({out.returncode}): {out.stderr}")
    return [json.loads(line) for line in out.stdout.splitlines()]


def long_documents():
    rng = random.Random(1)
    cjk = "".join(rng.choice("的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年") for _ in range(20000))
    return [cjk, " " * 50000 + "x", "a" * 30000, "\n" * 5000 + "end",
            "".join(rng.choice(["word ", "😀", "\t", "é", "123", "<|endoftext|>", "\r\n", "ß"])
                    for _ in range(20000))]


def crosscheck(autosp, work):
    names = build_all(work / "tokenizers")
    texts = corpus_lines() + long_documents()
    jsonl = work / "texts.jsonl"
    with open(jsonl, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
    failures = 0
    for name in names:
        d = work / "tokenizers" / name
        ours = autosp_tokenize(autosp, d, jsonl)
        if len(ours) != len(texts):
            print(f"FAIL {name}: autosp printed {len(ours)} documents, expected {len(texts)}")
            failures += 1
            continue
        for ref_name, encode in reference_encoders(d):
            bad = 0
            tokens = 0
            for i, text in enumerate(texts):
                theirs = encode(text)
                tokens += len(theirs)
                if ours[i] != theirs:
                    bad += 1
                    if bad <= 3:
                        k = next((j for j in range(min(len(ours[i]), len(theirs)))
                                  if ours[i][j] != theirs[j]), min(len(ours[i]), len(theirs)))
                        print(f"  {name} vs {ref_name}: text {i} {text[:80]!r}: first difference "
                              f"at token {k}: autosp {ours[i][k:k + 8]} vs {theirs[k:k + 8]}")
            verdict = "all equal" if bad == 0 else f"{bad} DIFFER"
            print(f"{name:12s} vs {ref_name:40s}: {len(texts)} texts, {tokens} tokens: {verdict}")
            failures += bad
    if failures:
        sys.exit(f"FAIL: {failures} texts tokenized differently")
    print(f"crosscheck: all {len(names)} tokenizers equal on {len(texts)} texts")


def read_tok(path):
    data = path.read_bytes()
    assert data[:8] == b"ASPTOK01", data[:8]
    width, _, n_tokens, n_docs = struct.unpack_from("<IIQQ", data, 8)
    fmt_char = {2: "H", 4: "I"}[width]
    tokens = list(struct.unpack_from(f"<{n_tokens}{fmt_char}", data, 32))
    starts = list(struct.unpack_from(f"<{n_docs}Q", data, 32 + n_tokens * width))
    return tokens, starts


def prepare(autosp, work):
    build_all(work / "tokenizers")
    lines = corpus_lines()
    inputs = work / "inputs"
    inputs.mkdir()
    docs = []  # the documents in input order, as autosp must read them
    files = []
    for k in range(3):  # .txt: one document per file (CR LF and all)
        text = "\n".join(lines[k * 30:(k + 1) * 30]) + "\r\n"
        p = inputs / f"doc{k}.txt"
        p.write_bytes(text.encode("utf-8"))
        files.append(p)
        docs.append(text)
    big = inputs / "big.jsonl"  # several 4 MiB work units; blank lines and other members
    rng = random.Random(2)
    with open(big, "w", encoding="utf-8") as f:
        for i in range(30000):
            t = rng.choice(lines) + " " + str(i) + " " + rng.choice(lines)
            if t.strip() == "" or rng.random() < 0.01:
                f.write("\n")
                continue
            if t == "":
                continue
            f.write(json.dumps({"id": i, "body": t, "meta": {"n": i}}, ensure_ascii=False) + "\n")
            docs.append(t)
    files.append(big)
    total = sum(os.path.getsize(p) for p in files)
    for name in ["llama3", "gpt2", "spm-bpe"]:
        d = work / "tokenizers" / name
        outs = []
        for jobs in (1, 3):
            out = work / f"{name}-j{jobs}.tok"
            r = subprocess.run([autosp, "data", "prepare", "--tokenizer", str(d), *map(str, files),
                                "--text-key", "body", "-o", str(out), "--jobs", str(jobs)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"FAIL: data prepare --tokenizer {name}: {r.stderr}")
            if "tokens/s" not in r.stderr:
                sys.exit(f"FAIL: no progress line on stderr: {r.stderr!r}")
            outs.append(out.read_bytes())
        if outs[0] != outs[1]:
            sys.exit(f"FAIL: {name}: --jobs 1 and --jobs 3 wrote different files")
        tokens, starts = read_tok(work / f"{name}-j1.tok")
        if (d / "tokenizer.json").exists():
            auto = AutoTokenizer.from_pretrained(str(d))
            # add_special_tokens=True: BOS exactly when the tokenizer adds it (llama3: the
            # post-processor; gpt2: never); autosp appends EOS.
            expected_docs = [auto.encode(t, add_special_tokens=True) + [auto.eos_token_id]
                             for t in docs]
        else:
            sp = spm.SentencePieceProcessor(model_file=str(d / "tokenizer.model"))
            expected_docs = [[sp.bos_id()] + sp.encode(t) + [sp.eos_id()] for t in docs]
        expected = [t for doc in expected_docs for t in doc]
        expected_starts = []
        pos = 0
        for doc in expected_docs:
            expected_starts.append(pos)
            pos += len(doc)
        if tokens != expected or starts != expected_starts:
            k = next((j for j in range(min(len(tokens), len(expected)))
                      if tokens[j] != expected[j]), None)
            sys.exit(f"FAIL: {name}: .tok has {len(tokens)} tokens / {len(starts)} documents, "
                     f"expected {len(expected)} / {len(expected_starts)}; first token difference "
                     f"at {k}")
        print(f"prepare {name:8s}: {len(files)} files ({total} bytes), {len(starts)} documents, "
              f"{len(tokens)} tokens equal to HF; --jobs 1 and 3 identical")

    # A bad .jsonl line is an error naming file:line.
    bad = inputs / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n\n{"text": 3}\n', encoding="utf-8")
    r = subprocess.run([autosp, "data", "prepare", "--tokenizer", str(work / "tokenizers/gpt2"),
                        str(bad), "-o", str(work / "never.tok")], capture_output=True, text=True)
    want = f"{bad}:3: \"text\" is number, not a string"
    if r.returncode != 2 or want not in r.stderr or (work / "never.tok").exists():
        sys.exit(f"FAIL: bad line: exit {r.returncode}, stderr {r.stderr!r}; wanted {want!r}")
    print(f"bad line: exit 2, {r.stderr.strip()}")

    # Text that is not UTF-8 is an error naming the file and the byte, never a crash.
    latin1 = inputs / "latin1.txt"
    latin1.write_bytes("ok\ncaf".encode() + b"\xe9 au lait\n")
    r = subprocess.run([autosp, "data", "prepare", "--tokenizer", str(work / "tokenizers/llama3"),
                        str(latin1), "-o", str(work / "never.tok")], capture_output=True, text=True)
    want = f"{latin1}: the text is not valid UTF-8 at byte 6"
    if r.returncode != 2 or want not in r.stderr or (work / "never.tok").exists():
        sys.exit(f"FAIL: invalid UTF-8: exit {r.returncode}, stderr {r.stderr!r}; wanted {want!r}")
    print(f"invalid UTF-8: exit 2, {r.stderr.strip()}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("part", choices=["crosscheck", "prepare"])
    ap.add_argument("--autosp", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    work = pathlib.Path(args.workdir)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    if args.part == "crosscheck":
        crosscheck(args.autosp, work)
    else:
        prepare(args.autosp, work)


if __name__ == "__main__":
    main()
