#!/usr/bin/env python3
"""Fails on an #include that crosses a layer boundary the wrong way.

Each folder under src/ is a layer; LAYERS says which layers it may include
(itself always). The compiler core (ir, passes, autodiff, frontend) may not
include LibTorch (ATen/, c10/, torch/, caffe2/). Prints every violation as
file:line, then exits 1; exits 0 when there is none.
Usage: check_layers.py <repo root>
       check_layers.py --self-test   (the checker catches a planted violation)
"""
import pathlib
import re
import sys

# layer -> layers it may include, besides itself. Mirrors the CMake targets'
# link dependencies (src/*/CMakeLists.txt) and the table in README.md.
LAYERS = {
    "support": set(),
    "ir": {"support"},
    "autodiff": {"ir", "support"},
    "passes": {"autodiff", "ir", "support"},
    "frontend": {"ir", "support"},
    "runtime": {"ir", "support"},
    "tokenizer": {"support"},
    "reference": {"runtime", "frontend", "ir", "support"},
    "train": {"reference", "runtime", "frontend", "passes", "autodiff", "ir", "support",
              "tokenizer"},
    "verify": {"train", "reference", "runtime", "frontend", "passes", "autodiff", "ir", "support",
               "tokenizer"},
    "cli": {"verify", "train", "reference", "runtime", "frontend", "passes", "autodiff", "ir",
            "support", "tokenizer"},
}
CORE = {"support", "ir", "passes", "autodiff", "frontend"}
# LibTorch-free layers that are not compiler core (the sanitizer build has them).
TORCH_FREE = {"tokenizer"}
LIBTORCH = ("ATen/", "c10/", "torch/", "caffe2/")
INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^">]+)[">]')


def self_test() -> int:
    """Plants one wrong-way include and one LibTorch include in a scratch tree."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        (root / "src/ir").mkdir(parents=True)
        (root / "src/runtime").mkdir(parents=True)
        (root / "src/ir/a.h").write_text('#include "runtime/executor.h"\n#include <ATen/ATen.h>\n')
        (root / "src/runtime/b.cc").write_text('#include "ir/graph.h"\n#include <ATen/ATen.h>\n')
        errors = check(root)
    expected = ["src/ir/a.h:1: src/ir may not include src/runtime",
                "src/ir/a.h:2: src/ir is compiler core and may not include LibTorch"]
    ok = len(errors) == 2 and all(e.startswith(x) for e, x in zip(errors, expected))
    print("self-test: ok" if ok else f"self-test FAILED: got {errors}")
    return 0 if ok else 1


def check(root: pathlib.Path) -> list:
    src = root / "src"
    errors = []
    for path in sorted(src.rglob("*")):
        if path.suffix not in (".h", ".cc") or not path.is_file():
            continue
        layer = path.relative_to(src).parts[0]
        if layer not in LAYERS:
            errors.append(f"{path.relative_to(root)}: folder src/{layer} is not a known layer "
                          f"(add it to {pathlib.Path(__file__).name})")
            continue
        allowed = LAYERS[layer] | {layer}
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            target = m.group(1)
            where = f"{path.relative_to(root)}:{lineno}"
            if target.startswith(LIBTORCH):
                if layer in CORE:
                    errors.append(f"{where}: src/{layer} is compiler core and may not include "
                                  f"LibTorch ({target})")
                elif layer in TORCH_FREE:
                    errors.append(f"{where}: src/{layer} is LibTorch-free and may not include "
                                  f"LibTorch ({target})")
                continue
            head = target.split("/", 1)[0]
            if "/" in target and head in LAYERS and head not in allowed:
                errors.append(f"{where}: src/{layer} may not include src/{head} ({target}); "
                              f"allowed: {', '.join(sorted(allowed))}")
    return errors


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--self-test":
        return self_test()
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    errors = check(root)
    for e in errors:
        print(e)
    if errors:
        print(f"{len(errors)} include(s) cross a layer boundary the wrong way")
        return 1
    print("layering: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
