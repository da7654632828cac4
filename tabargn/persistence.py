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
from tabargn.constraints import parse_rules
from tabargn.errors import InvalidDataError, ModelFileError
from tabargn.flat import FlatModel
from tabargn.model import ARGN, ModelConfig
from tabargn.model_schema import check_codes_decode, read_config, read_encoders
from tabargn.sequential.fit import SequentialModel
from tabargn.sequential.network import SequenceConfig, SequenceNetwork
from tabargn.sequential.prepare import SequenceMeta
from tabargn.text_columns import json_safe_params, load_text_models, save_text_models

__all__ = ["FORMAT_VERSION", "save_model", "load_model"]

FORMAT_VERSION = 1
CONFIG, ENCODERS, WEIGHTS = "config.json", "encoders.json", "model.safetensors"
SEQUENTIAL, ENTITIES = "sequential", "entities"
_PATH_OPTIONS = ("card_path", "cache_path", "model_dir", "lora_dir")


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
        "constraints": [rule.to_dict() for rule in flat.constraints],
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
        "constraints": [rule.to_dict() for rule in fitted.constraints],  # context: entities/
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
    read_config(config, str(path / CONFIG))  # the whole file, before any of it is used
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
    """Runs ``make()`` (constructors fed from the files); any failure is a ModelFileError.

    The files are untrusted input: whatever a corrupt entry makes a constructor raise
    (KeyError, TypeError, IndexError, ...) means the folder cannot be used.
    """
    try:
        return make()
    except ModelFileError:
        raise
    except Exception as e:  # noqa: BLE001 - see the docstring
        raise ModelFileError(f"{path} has an inconsistent configuration: {e!r}") from None


def _read_encoders(path: Path) -> dict:
    encoders = _read_json(path / ENCODERS)
    read_encoders(encoders, str(path / ENCODERS))
    return encoders


def _load_flat(
    path: Path,
    config: dict,
    predicates: dict | None = None,
    *,
    chat_client=None,
    root: Path | None = None,
) -> FlatModel:
    encoders = _read_encoders(path)
    names = [c["name"] for c in encoders["columns"]]
    if names != config["feature_names"]:
        raise ModelFileError(
            f"{CONFIG} names the columns {config['feature_names']} but {ENCODERS} holds {names}"
        )
    codec, network = _build(
        path,
        lambda: (TableCodec.from_json(encoders), ARGN(ModelConfig(**config["network"]))),
    )
    _load_weights(path, network)
    if codec.cardinalities != network.config.cardinalities:
        raise ModelFileError(f"{ENCODERS} does not match {CONFIG} in {path}")
    check_codes_decode(codec, str(path / ENCODERS))
    return FlatModel(
        codec=codec,
        network=network.eval(),
        feature_names=_build(path, lambda: [str(c) for c in config["feature_names"]]),
        training=config.get("training", {}),
        text_models=load_text_models(
            config.get("text_models"), path, chat_client=chat_client, root=root or path
        ),
        constraints=_build(path, lambda: parse_rules(config.get("constraints"), predicates)),
    )


def _load_sequential(
    path: Path, config: dict, predicates: dict | None = None, *, chat_client=None
) -> SequentialModel:
    encoders = _read_encoders(path)
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
    check_codes_decode(codec, str(path / ENCODERS))
    entities = path / ENTITIES
    if entities.is_symlink():
        raise ModelFileError(f"{entities} is a link; a model folder may only hold its own files")
    entity_model = _load_flat(
        entities, _read_config(entities), predicates, chat_client=chat_client, root=path
    )
    training = config.get("training", {})
    text_models = load_text_models(config.get("text_models"), path)
    rules = _build(path, lambda: parse_rules(config.get("constraints"), predicates))
    return SequentialModel(meta, codec, network.eval(), entity_model, training, text_models, rules)


def load_model(
    path: str | Path, *, predicates: dict | None = None, text_backend=None
) -> tuple[dict, int, FlatModel | SequentialModel]:
    """Reads a model directory written by :func:`save_model`, on the CPU.

    The directory is untrusted input: only files inside it are read (a text model folder named
    outside it raises), weights are safetensors, and no URL, environment variable name, cache
    or card path saved in it is used. A prompted text model generates only with the chat client
    passed again as ``text_backend``; the saved ``text_backend`` parameter is a label and stays
    one.

    Args:
        path: The model directory.
        predicates: ``{name: fn}`` functions of the model's Predicate rules (saved by name).
        text_backend: The chat client (``llm_text.ChatClient``) for prompted text columns;
            None for offline text models (prompted ones then raise when generating).

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
    chat_client = _chat_client(text_backend)
    if isinstance(params.get("text_options"), dict):  # file paths in a folder are not used
        params["text_options"] = {
            k: v for k, v in params["text_options"].items() if k not in _PATH_OPTIONS
        }
    if chat_client is not None:
        params = {**params, "text_backend": text_backend}
    if config.get("kind") == SEQUENTIAL:
        fitted = _build(
            path, lambda: _load_sequential(path, config, predicates, chat_client=chat_client)
        )
    else:
        fitted = _build(path, lambda: _load_flat(path, config, predicates, chat_client=chat_client))
    return params, seed, fitted


def _chat_client(text_backend):
    """The chat client passed at load, or None; anything else is an InvalidDataError."""
    if text_backend is None or isinstance(text_backend, str):
        return None
    from llm_text import ChatClient

    if not isinstance(text_backend, ChatClient):
        raise InvalidDataError(
            f"text_backend at load must be a llm_text chat client, got {type(text_backend).__name__}"
        )
    return text_backend
