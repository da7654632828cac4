"""Devices on a machine without a GPU: typed errors, settings validation, inference placement."""

import pandas as pd
import pytest
import torch

from tabargn import TabularARGN
from tabargn.device import accelerator_and_precision, check_device
from tabargn.errors import DeviceError, InvalidDataError, TabargnError
from tabargn.trainer import TrainingConfig, make_trainer

NO_GPU = not torch.cuda.is_available()


@pytest.fixture(scope="module")
def frame():
    return pd.DataFrame(
        {
            "a": ["x", "y", "z", "x"] * 30,
            "b": list(range(120)),
            "c": [1.5, 2.5, None, 4.0] * 30,
        }
    )


@pytest.mark.skipif(not NO_GPU, reason="checks the error on a machine without a GPU")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:1"])
def test_asking_for_a_missing_gpu_is_a_typed_error(frame, device):
    with pytest.raises(DeviceError, match="no CUDA GPU") as caught:
        TabularARGN(device=device, max_epochs=1, verbose=0).fit(frame)
    assert isinstance(caught.value, TabargnError)


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "tpu", 3])
def test_unknown_device_names_are_typed_errors(device):
    with pytest.raises(DeviceError):
        check_device(device)


@pytest.mark.parametrize(
    "params",
    [
        {"devices": 0},
        {"devices": "two"},
        {"num_nodes": 0},
        {"strategy": "magic"},
    ],
)
def test_bad_distributed_settings_are_typed_errors(frame, params):
    with pytest.raises(InvalidDataError):
        TabularARGN(max_epochs=1, verbose=0, **params).fit(frame)


def test_dp_and_cpu_train_in_fp32():
    assert accelerator_and_precision("cpu") == ("cpu", "32-true", 1)
    trainer = make_trainer(TrainingConfig(device="cpu", fp32=True, verbose=0))
    assert str(trainer.precision) == "32-true"


def test_training_summary_records_the_device_and_inference_follows_device_arg(frame):
    model = TabularARGN(max_epochs=1, verbose=0, random_state=0).fit(frame)
    t = model.training_
    assert (t["accelerator"], t["device"], t["devices"], t["precision"]) == (
        "cpu",
        "cpu",
        1,
        "32-true",
    )
    a = model.sample(20, device="cpu")
    model.restart_sampling()
    assert a.equals(model.sample(20))  # device="cpu" is where the network already is
    assert len(model.log_prob(frame.head(5), device="cpu")) == 5
    if NO_GPU:
        with pytest.raises(DeviceError):
            model.sample(5, device="cuda")
    assert next(model.network_.parameters()).device.type == "cpu"
