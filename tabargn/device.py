"""Which torch device a fit or an inference call runs on, checked against this machine.

``device`` names an accelerator for training *and* inference:

* ``"cpu"``;
* ``"cuda"`` (the current GPU) or ``"cuda:N"`` (GPU ``N``);
* ``"mps"`` (Apple silicon);
* ``"auto"``: CUDA when a GPU is present, else the CPU.

Training on a GPU uses bf16-mixed precision where the GPU supports bf16, 32-bit elsewhere;
DP-SGD always trains in 32-bit (its per-row gradient norms and noise are summed in fp32).
Inference (sampling, conditions, ``where``, imputation, scores) runs on the device the network
is on, or on the ``device=`` a call names.

Random streams: the same seed on the same device gives the same samples; the CPU and a GPU
draw different (equally valid) streams, because torch's CPU and CUDA generators differ.
"""

from __future__ import annotations

import torch

from tabargn.errors import DeviceError

__all__ = ["check_device", "torch_device", "accelerator_and_precision"]


def check_device(device: str) -> str:
    """Validates a device name against this machine; returns it unchanged.

    Raises:
        DeviceError: An unknown name, or a device this machine does not have.
    """
    if not isinstance(device, str):
        raise DeviceError(f"device must be a string such as 'cpu' or 'cuda', got {device!r}")
    if device in ("cpu", "auto"):
        return device
    if device == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError("device='mps' but no Apple-silicon GPU is available; use 'cpu'")
        return device
    if device == "cuda" or device.startswith("cuda:"):
        index = device.partition(":")[2]
        if index and not index.isdigit():
            raise DeviceError(f"device={device!r}; use 'cuda' or 'cuda:N' with a GPU number N")
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device={device!r} but no CUDA GPU is available on this machine "
                "(torch.cuda.is_available() is False); use device='cpu' or 'auto'"
            )
        if index and int(index) >= torch.cuda.device_count():
            raise DeviceError(
                f"device={device!r} but this machine has {torch.cuda.device_count()} GPU(s), "
                f"numbered from 0"
            )
        return device
    raise DeviceError(f"device={device!r}; use 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'")


def torch_device(device: str) -> torch.device:
    """The ``torch.device`` of a checked device name (``"auto"`` resolved)."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def accelerator_and_precision(device: str, *, fp32: bool = False) -> tuple[str, str, list | int]:
    """Lightning's ``(accelerator, precision, devices)`` for a checked device name.

    Args:
        device: A name accepted by :func:`check_device`.
        fp32: Force 32-bit precision (DP-SGD).

    Returns:
        ``("gpu", "bf16-mixed" | "32-true", [N] | 1)``, ``("mps", "32-true", 1)`` or
        ``("cpu", "32-true", 1)``; ``[N]`` pins the run to GPU ``N`` for ``"cuda:N"``.
    """
    resolved = torch_device(device)
    if resolved.type == "cuda":
        bf16 = torch.cuda.is_bf16_supported() and not fp32
        pinned = [resolved.index] if resolved.index is not None else 1
        return "gpu", "bf16-mixed" if bf16 else "32-true", pinned
    if resolved.type == "mps":
        return "mps", "32-true", 1
    return "cpu", "32-true", 1
