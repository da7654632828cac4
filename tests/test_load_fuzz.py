"""Fuzzing ``TabularARGN.load`` with mutated model folders: a folder either loads and samples,
or raises ModelFileError; nothing else escapes (fixed seed, a few hundred mutations)."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from tabargn import TabularARGN
from tabargn.errors import ModelFileError, TabargnError

N_MUTATIONS = 100


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame(
        {
            "cat": rng.choice(["a", "b", "c", "d"], n),
            "num": rng.normal(50, 10, n).round(2),
            "int": rng.integers(0, 1000, n),
            "when": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 900, n), "D"),
            "flag": rng.random(n) < 0.3,
        }
    )
    path = tmp_path_factory.mktemp("model") / "m"
    TabularARGN(max_epochs=1, verbose=0, random_state=0).fit(df).save(path)
    return path


def _leaves(node, prefix=()):
    """Every (path, value) of a JSON document."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, (*prefix, i))
    yield prefix, node


def _set(doc, path, value):
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _drop(doc, path):
    node = doc
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]


REPLACEMENTS = [None, -1, 0, 10**9, "abc", 1.5, [], {}, True, float("nan")]


def _mutate(folder, rng):
    name = rng.choice(["config.json", "encoders.json", "model.safetensors"], p=[0.5, 0.4, 0.1])
    file = folder / name
    if name == "model.safetensors":
        data = bytearray(file.read_bytes())
        cut = int(rng.integers(0, len(data)))
        file.write_bytes(bytes(data[:cut]) if rng.random() < 0.5 else bytes(data[cut:]))
        return
    doc = json.loads(file.read_text())
    paths = [p for p, _ in _leaves(doc) if p]
    path = paths[int(rng.integers(len(paths)))]
    if rng.random() < 0.3:
        _drop(doc, path)
    else:
        _set(doc, path, REPLACEMENTS[int(rng.integers(len(REPLACEMENTS)))])
    file.write_text(json.dumps(doc))


def test_mutated_folders_load_and_sample_or_raise_model_file_error(saved, tmp_path):
    rng = np.random.default_rng(0)
    outcomes = {"loaded": 0, "refused": 0}
    for i in range(N_MUTATIONS):
        folder = tmp_path / f"m{i}"
        shutil.copytree(saved, folder)
        _mutate(folder, rng)
        try:
            model = TabularARGN.load(folder)
        except ModelFileError:
            outcomes["refused"] += 1
            continue
        outcomes["loaded"] += 1
        try:
            model.sample(5)
        except TabargnError:
            pass
        shutil.rmtree(folder)
    assert outcomes["refused"] > N_MUTATIONS // 2  # most mutations break the folder
