"""Saving and loading sequential models: the flat model directory layout, plus the entity model.

Layout (JSON and safetensors only, no pickle; same ``format_version`` as flat models)::

    config.json        format version, "kind": "sequential", estimator parameters, seed,
                       sequence network shape, table description (keys, order column), training
    encoders.json      the event codec (event columns and the gap column)
    model.safetensors  the sequence network's weights (float32, CPU)
    entities/          the entity model, a flat model directory (context, length, start)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from tabargn.codec import TableCodec
from tabargn.errors import ModelFileError
from tabargn.io import CONFIG, ENCODERS, FORMAT_VERSION, WEIGHTS, _json_default, _read_json
from tabargn.sequential.api import SequentialModel
from tabargn.sequential.network import SequenceConfig, SequenceNetwork
from tabargn.sequential.prepare import SequenceMeta

__all__ = ["save_sequential", "load_sequential", "is_sequential"]

KIND = "sequential"
ENTITIES = "entities"


def is_sequential(path: str | Path) -> bool:
    """True when ``path`` holds a sequential model (its config says ``"kind": "sequential"``)."""
    config = Path(path) / CONFIG
    if not config.is_file():
        return False
    try:
        return json.loads(config.read_text()).get("kind") == KIND
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return False


def save_sequential(model, path: str | Path) -> Path:
    """Writes a fitted sequential :class:`tabargn.TabularARGN` to directory ``path``."""
    from tabargn import __version__

    seq: SequentialModel = model.sequential_
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    config = {
        "format_version": FORMAT_VERSION,
        "kind": KIND,
        "package": "tabargn",
        "package_version": __version__,
        "params": model.get_params(),
        "seed": model.seed_,
        "feature_names": [str(c) for c in model.feature_names_in_],
        "network": seq.network.config.to_dict(),
        "sequence": seq.meta.to_dict(),
        "training": model.training_,
    }
    (path / CONFIG).write_text(json.dumps(config, indent=2, default=_json_default))
    (path / ENCODERS).write_text(json.dumps(seq.event_codec.to_json(), default=_json_default))
    state = {k: v.detach().float().cpu().contiguous() for k, v in seq.network.state_dict().items()}
    save_file(state, str(path / WEIGHTS), metadata={"format_version": str(FORMAT_VERSION)})
    seq.entity_model.save(path / ENTITIES)
    return path


def load_sequential(cls, path: str | Path):
    """Reads a directory written by :func:`save_sequential`.

    Raises:
        ModelFileError: Missing, corrupt or inconsistent files, or another format version.
    """
    path = Path(path)
    config = _read_json(path / CONFIG)
    if config.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has format version {config.get('format_version')!r}; this tabargn reads "
            f"version {FORMAT_VERSION}"
        )
    encoders = _read_json(path / ENCODERS)
    try:
        model = cls(**config["params"])
        codec = TableCodec.from_json(encoders)
        meta = SequenceMeta(**config["sequence"])
        network = SequenceNetwork(SequenceConfig(**config["network"]))
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{path} has an inconsistent configuration: {e!r}") from None
    try:
        state = load_file(str(path / WEIGHTS), device="cpu")
    except FileNotFoundError:
        raise ModelFileError(f"{WEIGHTS} is missing from {path}") from None
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFileError(f"{path / WEIGHTS} is corrupt: {e}") from None
    try:
        network.load_state_dict(state)
    except RuntimeError as e:
        raise ModelFileError(f"{path / WEIGHTS} does not match {CONFIG}: {e}") from None
    if codec.cardinalities != network.argn.config.cardinalities:
        raise ModelFileError(f"{ENCODERS} does not match {CONFIG} in {path}")
    entity_model = cls.load(path / ENTITIES)
    model.seed_ = int(config["seed"])
    model.sequential_ = SequentialModel(meta, codec, network.eval(), entity_model)
    model.codec_ = codec
    model.network_ = network
    model.feature_names_in_ = np.asarray(config["feature_names"], dtype=object)
    model.n_features_in_ = len(model.feature_names_in_)
    model.training_ = config.get("training", {})
    model._reset_stream()
    return model
