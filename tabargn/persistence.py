"""Saving and loading fitted models, flat and sequential: JSON and safetensors, never pickle.

Layout of a model directory::

    config.json        format version, package version, estimator parameters, the seed,
                       network shape, training summary; flat models: the folders of the text
                       models; sequential models: ``"kind": "sequential"`` and the table
                       description (keys, order column)
    encoders.json      column specs and encoding stats (value-protected: no rare values); for a
                       sequential model, the event codec (event columns and the gap column)
    model.safetensors  the network's weights (float32, CPU)
    text/<k>/          flat models: one llm_text model per free-text column (config.json,
                       card.json and, offline, model.safetensors + tokenizer.json)
    entities/          sequential models: the entity model, itself a flat model directory

A model trained on a GPU loads on the CPU. Files written by another format version, or files
that do not match each other, raise :class:`tabargn.errors.ModelFileError`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from tabargn._version import __version__
from tabargn.codec import TableCodec
from tabargn.errors import ModelFileError
from tabargn.flat import FlatModel
from tabargn.model import ARGN, ModelConfig
from tabargn.sequential.fit import SequentialModel
from tabargn.sequential.network import SequenceConfig, SequenceNetwork
from tabargn.sequential.prepare import SequenceMeta
from tabargn.text_columns import json_safe_params, load_text_models, save_text_models

__all__ = ["FORMAT_VERSION", "save_model", "load_model"]

FORMAT_VERSION = 1
CONFIG, ENCODERS, WEIGHTS = "config.json", "encoders.json", "model.safetensors"
SEQUENTIAL, ENTITIES = "sequential", "entities"


# ====================================================================== save
def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON-serializable: {type(value).__name__}")


def _write(path: Path, config: dict, codec: TableCodec, network) -> None:
    """Writes the three files every model directory has."""
    config = {
        "format_version": FORMAT_VERSION,
        "package": "tabargn",
        "package_version": __version__,
        **config,
        "network": network.config.to_dict(),
    }
    (path / CONFIG).write_text(json.dumps(config, indent=2, default=_json_default))
    (path / ENCODERS).write_text(json.dumps(codec.to_json(), default=_json_default))
    state = {k: v.detach().float().cpu().contiguous() for k, v in network.state_dict().items()}
    save_file(state, str(path / WEIGHTS), metadata={"format_version": str(FORMAT_VERSION)})


def _save_flat(flat: FlatModel, path: Path, params: dict, seed: int) -> None:
    config = {
        "params": params,
        "seed": seed,
        "feature_names": [str(c) for c in flat.feature_names],
        "training": flat.training,
        "text_models": save_text_models(flat.text_models, path),
    }
    _write(path, config, flat.codec, flat.network)


def save_model(
    fitted: FlatModel | SequentialModel, path: str | Path, *, params: dict, seed: int
) -> Path:
    """Writes a fitted model to directory ``path`` (created if needed).

    Args:
        fitted: The engine's fitted model.
        path: The directory.
        params: The estimator's parameters (``get_params()``); objects such as a chat client
            are stored as a label.
        seed: The seed of the fit.

    Returns:
        The directory as a Path.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    params = json_safe_params(params)
    if isinstance(fitted, FlatModel):
        _save_flat(fitted, path, params, seed)
        return path
    config = {
        "kind": SEQUENTIAL,
        "params": params,
        "seed": seed,
        "feature_names": list(fitted.meta.event_columns),
        "sequence": fitted.meta.to_dict(),
        "training": fitted.training,
        "text_models": save_text_models(fitted.text_models, path),
    }
    _write(path, config, fitted.event_codec, fitted.network)
    (path / ENTITIES).mkdir(exist_ok=True)
    _save_flat(fitted.entity_model, path / ENTITIES, params, seed)
    return path


# ====================================================================== load
def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelFileError(
            f"{path.name} is missing from {path.parent}; is this a tabargn model directory?"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFileError(f"{path} is corrupt (not valid JSON: {e})") from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{path} is corrupt (expected a JSON object)")
    return data


def _read_config(path: Path) -> dict:
    if not path.is_dir():
        raise ModelFileError(f"model directory {path} does not exist")
    config = _read_json(path / CONFIG)
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path} has format version {version!r}; this tabargn reads version {FORMAT_VERSION}"
        )
    return config


def _load_weights(path: Path, network) -> None:
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


def _build(path: Path, make):
    """Runs ``make()`` (constructors fed from the files); a bad entry is a ModelFileError."""
    try:
        return make()
    except (KeyError, TypeError, ValueError) as e:
        raise ModelFileError(f"{path} has an inconsistent configuration: {e!r}") from None


def _load_flat(path: Path, config: dict) -> FlatModel:
    encoders = _read_json(path / ENCODERS)
    codec, network = _build(
        path,
        lambda: (TableCodec.from_json(encoders), ARGN(ModelConfig(**config["network"]))),
    )
    _load_weights(path, network)
    if codec.cardinalities != network.config.cardinalities:
        raise ModelFileError(f"{ENCODERS} does not match {CONFIG} in {path}")
    return FlatModel(
        codec=codec,
        network=network.eval(),
        feature_names=_build(path, lambda: [str(c) for c in config["feature_names"]]),
        training=config.get("training", {}),
        text_models=load_text_models(config.get("text_models"), path),
    )


def _load_sequential(path: Path, config: dict) -> SequentialModel:
    encoders = _read_json(path / ENCODERS)
    codec, meta, network = _build(
        path,
        lambda: (
            TableCodec.from_json(encoders),
            SequenceMeta(**config["sequence"]),
            SequenceNetwork(SequenceConfig(**config["network"])),
        ),
    )
    _load_weights(path, network)
    if codec.cardinalities != network.argn.config.cardinalities:
        raise ModelFileError(f"{ENCODERS} does not match {CONFIG} in {path}")
    entities = path / ENTITIES
    entity_model = _load_flat(entities, _read_config(entities))
    training = config.get("training", {})
    text_models = load_text_models(config.get("text_models"), path)
    return SequentialModel(meta, codec, network.eval(), entity_model, training, text_models)


def load_model(path: str | Path) -> tuple[dict, int, FlatModel | SequentialModel]:
    """Reads a model directory written by :func:`save_model`, on the CPU.

    Returns:
        ``(estimator parameters, seed, fitted model)``.

    Raises:
        ModelFileError: The directory or a file is missing, corrupt, of another format version,
            or the files do not match each other.
    """
    path = Path(path)
    config = _read_config(path)
    params = config.get("params")
    if not isinstance(params, dict):
        raise ModelFileError(f"{path / CONFIG} has no 'params' object")
    seed = _build(path, lambda: int(config["seed"]))
    if config.get("kind") == SEQUENTIAL:
        return params, seed, _load_sequential(path, config)
    return params, seed, _load_flat(path, config)
