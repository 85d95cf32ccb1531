"""``validate_lightgbm_model_text``: the text LightGBM writes passes; truncated or edited text
(tree_sizes, Tree= blocks, end marker, header keys, out-of-range indices) is refused with a
``ModelLoadError`` naming the file, before LightGBM (which aborts the process on it) sees it."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from axion_pipeline.ml.base import ModelLoadError
from axion_pipeline.ml.lgb_text import validate_lightgbm_model_text

lgb = pytest.importorskip("lightgbm")
PATH = Path("/models/rank/member_0.lgb.txt")
REFUSED = f"{PATH}: LightGBM model text "


def _data(seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(400, 4))
    return rng, X


def multiclass_text() -> str:
    rng, X = _data()
    y = (X[:, 0] + rng.normal(size=len(X)) > 0).astype(int) + (X[:, 1] > 0.5)
    clf = lgb.LGBMClassifier(n_estimators=4, num_leaves=5, verbose=-1, n_jobs=1, random_state=0).fit(X, y)
    return clf.booster_.model_to_string()


def stump_text() -> str:  # a constant target: one-leaf trees
    _, X = _data()
    return lgb.train(
        {"objective": "regression", "verbose": -1, "num_threads": 1}, lgb.Dataset(X, np.ones(len(X))), num_boost_round=2
    ).model_to_string()


def categorical_text() -> str:
    rng, X = _data()
    X[:, 0] = rng.integers(0, 8, len(X))
    y = (X[:, 0] % 3 == 0) + 0.1 * rng.normal(size=len(X))
    params = {
        "objective": "regression",
        "verbose": -1,
        "num_threads": 1,
        "num_leaves": 4,
        "min_data_per_group": 5,
        "cat_smooth": 1,
    }
    return lgb.train(params, lgb.Dataset(X, y, categorical_feature=[0]), num_boost_round=3).model_to_string()


def linear_text() -> str:
    rng, X = _data()
    params = {"objective": "regression", "verbose": -1, "num_threads": 1, "num_leaves": 4, "linear_tree": True}
    return lgb.train(
        params, lgb.Dataset(X, X[:, 0] + 0.1 * rng.normal(size=len(X))), num_boost_round=2
    ).model_to_string()


VALID = {"multiclass": multiclass_text, "stump": stump_text, "categorical": categorical_text, "linear": linear_text}


@pytest.fixture(scope="module")
def text() -> str:
    return multiclass_text()


def split(text: str) -> tuple[str, list[str], str]:
    """(header up to the first tree, tree blocks as tree_sizes delimits them, the rest)."""
    start = text.index("\nTree=0\n") + 1
    sizes = [int(s) for s in re.search(r"^tree_sizes=(.*)$", text, re.M).group(1).split()]
    blocks, offset = [], start
    for size in sizes:
        blocks.append(text[offset : offset + size])
        offset += size
    return text[:start], blocks, text[offset:]


def join(header: str, blocks: list[str], rest: str) -> str:
    """Reassemble with tree_sizes recomputed: the edit an attacker makes to keep sizes consistent."""
    sizes = " ".join(str(len(b.encode())) for b in blocks)
    return re.sub(r"^tree_sizes=.*$", f"tree_sizes={sizes}", header, flags=re.M) + "".join(blocks) + rest


def refused(text: str, match: str = "") -> str:
    with pytest.raises(ModelLoadError) as exc:
        validate_lightgbm_model_text(text, PATH)
    message = str(exc.value)
    assert message.startswith(REFUSED), message
    assert re.search(match, message), message
    return message


# ------------------------------------------------------------------------------------ valid text
@pytest.mark.parametrize("kind", sorted(VALID))
def test_text_lightgbm_writes_passes_and_loads(kind):
    text = VALID[kind]()
    header = validate_lightgbm_model_text(text, PATH)
    booster = lgb.Booster(model_str=text)
    assert len(header["tree_sizes"].split()) == booster.num_trees() > 0
    assert int(header["max_feature_idx"]) + 1 == booster.num_feature() == 4


def test_split_and_join_round_trip(text):
    """The helpers below rebuild the exact text, so the edits they make are the only change."""
    assert join(*split(text)) == text
    assert len(split(text)[1]) == lgb.Booster(model_str=text).num_trees()


def test_text_after_the_trees_is_not_judged(text):
    cut = text.index("end of trees\n") + len("end of trees\n")
    validate_lightgbm_model_text(text[:cut], PATH)
    validate_lightgbm_model_text(text[: cut - 1], PATH)  # "end of trees" as the last line, no newline
    lgb.Booster(model_str=text[:cut])


# --------------------------------------------------------------------------------- truncation
def test_every_truncation_inside_the_model_is_refused(text):
    end = text.index("end of trees")
    cuts = sorted({*range(0, end, 37), *(text.index(f"Tree={i}\n") + d for i in range(4) for d in (0, 1, 7))})
    for cut in cuts:
        refused(text[:cut])


def test_truncation_after_tree_sizes_is_refused(text):
    """The case that aborted the process: the header (with tree_sizes) survives, the trees do not."""
    refused(text[:500], r"holds \d+ Tree= blocks, tree_sizes lists \d+")
    refused(text[: text.index("\nTree=0\n") + 1], "holds 0 Tree= blocks")


# ------------------------------------------------------------------------------- tree_sizes
@pytest.mark.parametrize("delta", [-1, 1, -100, 10**6])
@pytest.mark.parametrize("tree", [0, 2, -1])
def test_edited_tree_size_is_refused(text, tree, delta):
    sizes = re.search(r"^tree_sizes=(.*)$", text, re.M).group(1).split()
    sizes[tree] = str(max(1, int(sizes[tree]) + delta))
    refused(re.sub(r"^tree_sizes=.*$", "tree_sizes=" + " ".join(sizes), text, flags=re.M))


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda s: s[:-1], id="one_size_dropped"),
        pytest.param(lambda s: s + s[-1:], id="one_size_added"),
        pytest.param(lambda s: [s[1], s[0], *s[2:]], id="two_sizes_swapped"),
        pytest.param(lambda s: ["0", *s[1:]], id="zero_size"),
        pytest.param(lambda s: ["-5", *s[1:]], id="negative_size"),
        pytest.param(lambda s: ["5x", *s[1:]], id="not_a_number"),
        pytest.param(lambda s: [], id="empty"),
    ],
)
def test_tree_sizes_not_matching_the_blocks_is_refused(text, edit):
    sizes = re.search(r"^tree_sizes=(.*)$", text, re.M).group(1).split()
    assert sizes[0] != sizes[1]  # else the swap would be no edit
    refused(re.sub(r"^tree_sizes=.*$", "tree_sizes=" + " ".join(edit(sizes)), text, flags=re.M), "tree_sizes")


def test_duplicate_tree_sizes_line_is_refused(text):
    """LightGBM keeps the last of two equal keys: a second, false tree_sizes must not slip past."""
    sizes = re.search(r"^tree_sizes=(.*)$", text, re.M).group(0)
    refused(text.replace(sizes, sizes + "\n" + "tree_sizes=9999 9999", 1), "repeats 'tree_sizes'")


def test_removed_tree_with_recomputed_sizes_is_refused(text):
    header, blocks, rest = split(text)
    refused(join(header, blocks[1:], rest), r"tree 0 does not start|not a multiple")
    refused(join(header, blocks[:3] + blocks[4:], rest), r"tree 3 does not start|not a multiple")


def test_tree_block_without_its_blank_line_is_refused(text):
    header, blocks, rest = split(text)
    blocks[1] = blocks[1].rstrip("\n") + "\n"
    refused(join(header, blocks, rest), "tree 1 does not fill the .* ended by a blank line")


def test_line_without_equals_in_a_tree_is_refused(text):
    header, blocks, rest = split(text)
    blocks[0] = blocks[0].replace("num_cat=0\n", "num_cat 0\n")
    refused(join(header, blocks, rest), "tree 0 holds the line 'num_cat 0'")


# ------------------------------------------------------------------------------ end of trees
@pytest.mark.parametrize("replacement", ["", "end of tree\n", "\n"])
def test_missing_end_of_trees_marker_is_refused(text, replacement):
    refused(text.replace("end of trees\n", replacement, 1), "end of trees")


# ------------------------------------------------------------------------------- header keys
@pytest.mark.parametrize("key", ["version", "num_class", "feature_names", "max_feature_idx", "feature_infos"])
def test_missing_header_key_is_refused(text, key):
    refused(re.sub(rf"^{key}=.*\n", "", text, count=1, flags=re.M), f"header lacks {key}=")


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("tree\n", "forest\n", "does not start with the line 'tree'"),
        ("num_class=3\n", "num_class=0\n", "num_class is 0"),
        ("num_class=3\n", "num_class=x\n", "num_class is not an integer"),
        ("num_tree_per_iteration=3\n", "num_tree_per_iteration=0\n", "num_tree_per_iteration is 0"),
        ("num_tree_per_iteration=3\n", "num_tree_per_iteration=5\n", "not a multiple of num_tree_per_iteration=5"),
        ("max_feature_idx=3\n", "max_feature_idx=4\n", "feature_names lists 4 features, max_feature_idx implies 5"),
        ("version=v4\n", "version=\n", "empty version"),
        ("label_index=0\n", "label_index=0=1\n", "more than one '='"),
    ],
)
def test_inconsistent_header_is_refused(text, old, new, match):
    assert old in text
    refused(text.replace(old, new, 1), match)


# ------------------------------------------------------ indices, with tree_sizes recomputed
def _edit_tree(text: str, i: int, key: str, value) -> str:
    header, blocks, rest = split(text)
    blocks[i] = re.sub(
        rf"^{key}=.*$",
        f"{key}={value(re.search(rf'^{key}=(.*)$', blocks[i], re.M).group(1))}",
        blocks[i],
        count=1,
        flags=re.M,
    )
    return join(header, blocks, rest)


@pytest.mark.parametrize(
    ("key", "value", "match"),
    [
        ("left_child", lambda v: " ".join(["99", *v.split()[1:]]), "left_child holds 99"),
        ("right_child", lambda v: " ".join(["-99", *v.split()[1:]]), "right_child holds -99"),
        ("split_feature", lambda v: " ".join(["4", *v.split()[1:]]), r"split_feature holds 4, outside \[0, 3\]"),
        ("split_feature", lambda v: " ".join(v.split()[1:]), "split_feature has 3 entries, expected 4"),
        ("leaf_value", lambda v: v + " 0.5", "leaf_value has 6 entries, expected 5"),
        ("num_leaves", lambda v: "0", "num_leaves is 0"),
        ("num_leaves", lambda v: "9", "leaf_value has 5 entries, expected 9"),
        ("decision_type", lambda v: " ".join(["3", *v.split()[1:]]), "categorical splits but num_cat=0"),
    ],
)
def test_out_of_range_tree_fields_are_refused(text, key, value, match):
    """A consistent (sizes recomputed) but edited tree whose indices LightGBM would follow unchecked."""
    assert re.search(r"^num_leaves=5$", split(text)[1][1], re.M)
    refused(_edit_tree(text, 1, key, value), rf"tree 1 .*{match}|{match}")


def test_categorical_threshold_outside_the_boundaries_is_refused():
    text = categorical_text()
    tree = next(i for i, b in enumerate(split(text)[1]) if "num_cat=1" in b)
    refused(
        _edit_tree(text, tree, "threshold", lambda v: " ".join(["7", *v.split()[1:]])),
        r"categorical threshold 7 outside \[0, 1\)",
    )
    refused(_edit_tree(text, tree, "cat_boundaries", lambda v: "0 5"), "cat_boundaries")


def test_nul_and_carriage_return_are_refused(text):
    refused(text.replace("num_leaves=5", "num_leaves=5\x00", 1), "NUL")
    refused(text.replace("\n", "\r\n"), "control character")
    refused(b"tree\n".decode() + "x" * 10, "header lacks")
    refused(text.encode(), "is a bytes, not str")


# ------------------------------------------------------------------ the crash it prevents
CONTROL = textwrap.dedent("""
    import sys, lightgbm
    lightgbm.Booster(model_str=open(sys.argv[1]).read())
    print("loaded")
""")


def test_control_lightgbm_itself_dies_on_the_truncated_text(text, tmp_path):
    """Why the check exists: the same truncated text kills a process that hands it to LightGBM
    (a signal, not a Python exception), so the check cannot be an except clause. Should a LightGBM
    release stop crashing here, this control fails and says so."""
    path = tmp_path / "truncated.txt"
    path.write_text(text[:500])
    refused(text[:500])
    run = subprocess.run([sys.executable, "-c", CONTROL, str(path)], capture_output=True, timeout=300)
    assert run.returncode < 0, f"expected death by a signal (SIGABRT), got exit {run.returncode}"
    assert b"loaded" not in run.stdout
