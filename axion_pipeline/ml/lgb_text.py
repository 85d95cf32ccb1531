"""Structural check of LightGBM model text before ``lightgbm.Booster(model_str=...)`` sees it.

LightGBM's text loader trusts the file: it jumps to each tree at the byte offsets the header's
``tree_sizes=`` line adds up to, and its tree parser scans for ``=`` and newlines without a bound.
A truncated or edited model string (whose manifest hashes an attacker recomputed) therefore makes
it read past the end of the buffer and abort the whole process, which no ``try`` can catch.
``validate_lightgbm_model_text`` checks, in Python and before any native code runs, everything the
loader relies on, and raises ``ModelLoadError`` naming the file on the first mismatch:

- the text is ``tree`` followed by ``key=value`` header lines holding ``version``, ``num_class``,
  ``num_tree_per_iteration`` (optional), ``max_feature_idx``, ``feature_names``,
  ``feature_infos`` and ``tree_sizes``, with consistent counts;
- the ``Tree=i`` blocks tile the text exactly as ``tree_sizes`` says: block i starts with the line
  ``Tree=i``, holds ``key=value`` lines ended by a blank line and is exactly ``tree_sizes[i]``
  bytes long; there are as many blocks as sizes (a multiple of ``num_tree_per_iteration``), and the
  ``end of trees`` line follows the last one;
- each tree's arrays have the lengths its ``num_leaves`` implies, and every child, feature and
  categorical index in it points inside its arrays (prediction indexes memory with them unchecked).

A text that passes loads as a model of the stated shape; its numbers are not judged (the SHA-256
manifest protects against edits, this check only against the crash). The text LightGBM writes
(``model_to_string``/``save_model``, format ``version=v4``) always passes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from axion_pipeline.ml.base import ModelLoadError

END_OF_TREES = "end of trees"
REQUIRED_HEADER_KEYS = ("version", "num_class", "max_feature_idx", "feature_names", "feature_infos", "tree_sizes")
# Header keys whose value may itself contain "=" (LightGBM accepts these and no others).
_EQUALS_IN_VALUE = ("feature_names", "monotone_constraints")
_INT = re.compile(r"-?[0-9]+")
_TREE_LINE = re.compile(rb"^Tree=", re.MULTILINE)
_END_LINE = re.compile(rb"^end of trees$", re.MULTILINE)
_CONTROL = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]")


def _int(value: str, what: str, fail, minimum: int | None = None) -> int:
    if not _INT.fullmatch(value.strip()):
        raise fail(f"{what} is not an integer: {value[:40]!r}")
    number = int(value)
    if minimum is not None and number < minimum:
        raise fail(f"{what} is {number}, must be at least {minimum}")
    return number


def _ints(
    value: str, what: str, fail, count: int | None = None, low: int | None = None, high: int | None = None
) -> list[int]:
    """Space-separated integers, optionally exactly ``count`` of them, each in [low, high]."""
    tokens = value.split()
    if count is not None and len(tokens) != count:
        raise fail(f"{what} has {len(tokens)} entries, expected {count}")
    numbers = [_int(t, what, fail) for t in tokens]
    bad = [n for n in numbers if (low is not None and n < low) or (high is not None and n > high)]
    if bad:
        raise fail(f"{what} holds {bad[0]}, outside [{low}, {high}]")
    return numbers


def _count(value: str, what: str, fail, count: int) -> None:
    if len(value.split()) != count:
        raise fail(f"{what} has {len(value.split())} entries, expected {count}")


def _check_tree(i: int, fields: dict[str, str], n_features: int, fail) -> None:
    """Array lengths and the indices prediction follows without bounds checks."""

    def need(key: str) -> str:
        if key not in fields:
            raise fail(f"tree {i} lacks {key}=")
        return fields[key]

    leaves = _int(need("num_leaves"), f"tree {i} num_leaves", fail, minimum=1)
    num_cat = _int(need("num_cat"), f"tree {i} num_cat", fail, minimum=0)
    _count(need("leaf_value"), f"tree {i} leaf_value", fail, leaves)
    if leaves == 1:
        return
    inner = leaves - 1
    _ints(need("split_feature"), f"tree {i} split_feature", fail, inner, 0, n_features - 1)
    for key in ("left_child", "right_child"):  # >= 0: an inner node; < 0: ~leaf index
        _ints(need(key), f"tree {i} {key}", fail, inner, -leaves, inner - 1)
    decision = _ints(need("decision_type"), f"tree {i} decision_type", fail, inner, 0, 255)
    _count(need("threshold"), f"tree {i} threshold", fail, inner)
    categorical = [node for node, d in enumerate(decision) if d & 1]
    if categorical:
        if num_cat < 1:
            raise fail(f"tree {i} has categorical splits but num_cat={num_cat}")
        bounds = _ints(need("cat_boundaries"), f"tree {i} cat_boundaries", fail, num_cat + 1, 0)
        n_words = len(need("cat_threshold").split())
        if bounds[0] != 0 or bounds[-1] != n_words or any(a > b for a, b in zip(bounds, bounds[1:])):
            raise fail(f"tree {i} cat_boundaries {bounds[:5]}... do not partition its {n_words} cat_threshold words")
        thresholds = fields["threshold"].split()
        for node in categorical:
            _int(thresholds[node], f"tree {i} categorical threshold", fail)
            if not 0 <= int(thresholds[node]) < num_cat:
                raise fail(f"tree {i} categorical threshold {thresholds[node]} outside [0, {num_cat})")
    if fields.get("is_linear", "0").strip() not in ("0", ""):
        per_leaf = _ints(need("num_features"), f"tree {i} num_features", fail, leaves, 0, n_features)
        _ints(need("leaf_features"), f"tree {i} leaf_features", fail, sum(per_leaf), 0, n_features - 1)
        _count(need("leaf_coeff"), f"tree {i} leaf_coeff", fail, sum(per_leaf))
        _count(need("leaf_const"), f"tree {i} leaf_const", fail, leaves)


def validate_lightgbm_model_text(text: Any, path: str | Path) -> dict[str, str]:
    """Raise ``ModelLoadError("<path>: LightGBM model text ...")`` unless ``text`` is safe to hand
    to ``lightgbm.Booster(model_str=text)`` (module docstring); return the parsed header."""

    def fail(reason: str) -> ModelLoadError:
        return ModelLoadError(f"{path}: LightGBM model text {reason}; file truncated, edited or not a model")

    if not isinstance(text, str):
        raise fail(f"is a {type(text).__name__}, not str")
    if "\x00" in text:  # LightGBM would see the text up to the NUL only
        raise fail("holds a NUL character")
    try:
        data = text.encode("utf-8")  # tree_sizes count bytes
    except UnicodeEncodeError as exc:
        raise fail(f"is not encodable as UTF-8 ({exc.reason})") from exc

    # LightGBM reads header lines up to the first "Tree=" line (the whole text when there is none).
    first_tree = _TREE_LINE.search(data)
    header_end = first_tree.start() if first_tree else len(data)
    end_line = _END_LINE.search(data)
    control = _CONTROL.search(data, 0, max(header_end, end_line.start() if end_line else len(data)))
    if control:  # LightGBM's parsers also end lines at \r and split numbers at spaces only
        raise fail(f"holds the control character {control.group()!r} at byte {control.start()}")
    header_lines = data[:header_end].decode("utf-8").split("\n")
    if header_lines[0] != "tree":
        raise fail(f"does not start with the line 'tree' (got {header_lines[0][:40]!r})")
    header: dict[str, str] = {}
    for line in header_lines:
        parts = [part for part in line.split("=") if part]  # LightGBM's Split drops empty parts
        if not parts:
            continue
        key = parts[0]
        if len(parts) > 2 and key not in _EQUALS_IN_VALUE:
            raise fail(f"header line {line[:60]!r} holds more than one '='")
        if key in header:  # LightGBM keeps the last; an edit could hide a value behind the first
            raise fail(f"header repeats {key!r}")
        header[key] = parts[1] if len(parts) == 2 else line[len(key) + 1 :] if len(parts) > 2 else ""
    missing = [k for k in REQUIRED_HEADER_KEYS if k not in header]
    if missing:
        raise fail(f"header lacks {', '.join(k + '=' for k in missing)}")
    if not header["version"].strip():
        raise fail("header has an empty version=")
    num_class = _int(header["num_class"], "num_class", fail, minimum=1)
    per_iteration = _int(
        header.get("num_tree_per_iteration", str(num_class)), "num_tree_per_iteration", fail, minimum=1
    )
    n_features = _int(header["max_feature_idx"], "max_feature_idx", fail, minimum=0) + 1
    for key in ("feature_names", "feature_infos"):
        listed = len([name for name in header[key].split(" ") if name])  # as LightGBM splits it
        if listed != n_features:
            raise fail(f"{key} lists {listed} features, max_feature_idx implies {n_features}")
    sizes = _ints(header["tree_sizes"], "tree_sizes", fail, low=1)

    n_tree_lines = len(_TREE_LINE.findall(data))
    if n_tree_lines != len(sizes):
        raise fail(f"holds {n_tree_lines} Tree= blocks, tree_sizes lists {len(sizes)}")
    if len(sizes) % per_iteration:
        raise fail(f"holds {len(sizes)} trees, not a multiple of num_tree_per_iteration={per_iteration}")
    # The trees start at the first "Tree=" line; without trees, "end of trees" must come there.
    offset = header_end if first_tree else end_line.start() if end_line else len(data)
    if offset + sum(sizes) > len(data):
        raise fail(f"is {len(data)} bytes, tree_sizes needs {offset + sum(sizes)}")
    for i, size in enumerate(sizes):
        block = data[offset : offset + size]
        offset += size
        head = f"Tree={i}\n".encode()
        if not block.startswith(head):
            raise fail(f"tree {i} does not start at the offset tree_sizes gives (found {block[:20]!r})")
        body, blank, rest = block[len(head) :].partition(b"\n\n")
        if not blank or rest.strip(b"\n") or body.startswith(b"\n"):
            raise fail(
                f"tree {i} does not fill the {size} bytes tree_sizes gives it with key=value lines "
                "ended by a blank line"
            )
        fields: dict[str, str] = {}
        for line in body.decode("utf-8").split("\n"):
            key, eq, value = line.partition("=")  # as LightGBM's tree parser splits it
            if not eq or not key or key == "Tree":
                raise fail(f"tree {i} holds the line {line[:60]!r}, not key=value")
            if key in fields:  # LightGBM keeps the last
                raise fail(f"tree {i} repeats {key!r}")
            fields[key] = value
        _check_tree(i, fields, n_features, fail)
    tail = data[offset:]
    if not (tail == END_OF_TREES.encode() or tail.startswith(END_OF_TREES.encode() + b"\n")):
        raise fail(f"lacks the '{END_OF_TREES}' line where tree_sizes ends the trees (found {tail[:20]!r})")
    return header
