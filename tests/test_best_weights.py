"""BestWeights: the best validation epoch's weights wait in a private file and come back at the
end of the fit; the file is gone afterwards, also when the fit fails."""

import os
import stat
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from tabargn.trainer import BestWeights


class _Tied(nn.Module):
    """Two layers sharing one weight tensor (as tied input and output embeddings do)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 3)
        self.b = nn.Linear(3, 3)
        self.b.weight = self.a.weight


def _epoch(callback, module, epoch: int, loss: float, value: float) -> None:
    with torch.no_grad():
        for p in module.network.parameters():
            p.fill_(value)
    trainer = SimpleNamespace(
        callback_metrics={"val_loss": torch.tensor(loss)}, current_epoch=epoch
    )
    callback.on_validation_epoch_end(trainer, module)


def test_best_epoch_weights_are_restored_and_their_file_removed():
    module = SimpleNamespace(network=_Tied())
    best = BestWeights()
    _epoch(best, module, 0, loss=3.0, value=0.0)
    folder = best._folder.name
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700  # readable by the owner only
    _epoch(best, module, 1, loss=1.0, value=1.0)  # the best epoch
    _epoch(best, module, 2, loss=2.0, value=2.0)
    trainer = SimpleNamespace(callback_metrics={})
    best.on_fit_end(trainer, module)
    for p in module.network.parameters():
        assert torch.equal(p, torch.ones_like(p))
    assert module.network.b.weight is module.network.a.weight  # still tied
    assert best.best_epoch == 1 and best.best == 1.0
    assert [e for e, _, _ in best.history] == [0, 1, 2]
    assert int(trainer.callback_metrics["best_weights/best_epoch"]) == 1
    assert not os.path.exists(folder)


def test_the_file_is_removed_when_the_fit_fails():
    module = SimpleNamespace(network=_Tied())
    best = BestWeights()
    _epoch(best, module, 0, loss=1.0, value=0.5)
    folder = best._folder.name
    assert os.listdir(folder) == ["best.safetensors"]
    best.on_exception(SimpleNamespace(), module, KeyboardInterrupt())
    assert not os.path.exists(folder)
    # without any validation epoch nothing was written and the weights stay as they are
    fresh = SimpleNamespace(network=_Tied())
    before = [p.clone() for p in fresh.network.parameters()]
    unused = BestWeights()
    unused.on_fit_end(SimpleNamespace(callback_metrics={}), fresh)
    assert unused._folder is None and unused.best_epoch == -1
    assert all(torch.equal(a, b) for a, b in zip(before, fresh.network.parameters(), strict=True))


def test_without_a_writable_temporary_directory_the_weights_stay_in_memory(monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError("read-only file system")

    monkeypatch.setattr("tabargn.trainer.tempfile.TemporaryDirectory", refuse)
    module = SimpleNamespace(network=_Tied())
    best = BestWeights()
    with pytest.warns(RuntimeWarning, match="kept in memory: no temporary file"):
        _epoch(best, module, 0, loss=2.0, value=0.0)
    _epoch(best, module, 1, loss=1.0, value=1.0)  # the best epoch, copied in place
    _epoch(best, module, 2, loss=3.0, value=2.0)
    best.on_fit_end(SimpleNamespace(callback_metrics={}), module)
    for p in module.network.parameters():
        assert torch.equal(p, torch.ones_like(p))
    assert best._folder is None and best._state is None
