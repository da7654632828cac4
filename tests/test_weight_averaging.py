"""EMA of the weights: the decay's warm-up in epochs, and the flat fit keeps the averaged weights
it validated (and frees its training state)."""

import lightning as L
import pytest
import torch

from tabargn.data import CodesDataModule
from tabargn.trainer import TrainingConfig
from tabargn.training import ARGNModule, fit_network
from tabargn.weight_averaging import UPDATE_EVERY, WARMUP_SHARE, EMAWeights
from tests.test_model import _codes, _network


def test_half_life_grows_with_the_epochs_trained_up_to_its_setting():
    ema = EMAWeights(half_life=1.0)
    ema._steps_per_epoch = 100.0
    decays = [ema.decay(step) for step in range(0, 2000, UPDATE_EVERY)]
    assert all(b >= a for a, b in zip(decays, decays[1:], strict=False))
    # after one epoch the half-life is WARMUP_SHARE epochs; from 1 / WARMUP_SHARE epochs on, 1
    assert ema.decay(99) == pytest.approx(0.5 ** (UPDATE_EVERY / (WARMUP_SHARE * 100)))
    assert ema.decay(999) == pytest.approx(0.5 ** (UPDATE_EVERY / 100))
    assert ema.decay(1999) == ema.decay(999)
    # a stream of unknown length: the steps so far count as one epoch
    stream = EMAWeights(half_life=1.0)
    assert stream.decay(99) == pytest.approx(ema.decay(99))
    # one update moves the average by 1 - decay towards the current weights
    averaged, current = [torch.zeros(3)], [torch.ones(3)]
    ema._step = 999
    ema._average(averaged, current, torch.tensor(5))
    torch.testing.assert_close(averaged[0], torch.full((3,), 1 - ema.decay(999)))


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan")])
def test_half_life_must_be_positive(bad):
    with pytest.raises(ValueError, match="half_life"):
        EMAWeights(half_life=bad)


def _learnable_codes(net, n=1200):
    codes = _codes(net, n, seed=4)
    codes[:, 1] = codes[:, 0] % 3  # column 1 is a function of column 0
    return codes


def test_flat_fit_keeps_the_averaged_weights_it_validated():
    net = _network(seed=1)
    codes = _learnable_codes(net)
    config = TrainingConfig(max_epochs=4, batch_size=32, seed=5, verbose=0)
    summary = fit_network(net, codes, config)
    assert ARGNModule.ema_half_life and summary["best_epoch"] >= 1
    assert all(p.grad is None for p in net.parameters())  # released before generation

    # the returned weights, validated again on the same split and masks, give the best
    # validation loss recorded during the fit: the averaged weights, not the raw last ones
    module = ARGNModule(net, config, summary["batch_size"])
    data = CodesDataModule(codes, summary["batch_size"], config.validation_share, config.seed)
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    (metrics,) = trainer.validate(module, datamodule=data, verbose=False)
    assert metrics["val_loss"] == pytest.approx(summary["best_val_loss"], rel=1e-5)


def test_averaging_changes_the_kept_weights_and_is_reproducible():
    config = TrainingConfig(max_epochs=2, batch_size=32, patience=2, seed=5, verbose=0)

    def fit(half_life):
        net = _network(seed=1)
        old = ARGNModule.ema_half_life
        ARGNModule.ema_half_life = half_life
        try:
            fit_network(net, _learnable_codes(net), config)
        finally:
            ARGNModule.ema_half_life = old
        return torch.cat([p.detach().flatten() for p in net.parameters()])

    averaged, again, raw = fit(1.0), fit(1.0), fit(None)
    torch.testing.assert_close(averaged, again, rtol=0, atol=0)
    assert not torch.allclose(averaged, raw)


def test_trainer_and_its_copies_of_the_weights_are_freed_after_the_fit(monkeypatch):
    import weakref

    import tabargn.trainer as trainer_module

    made = []

    class Recorded(trainer_module.EMAWeights):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(weakref.ref(self))

    monkeypatch.setattr(trainer_module, "EMAWeights", Recorded)
    net = _network(seed=1)
    fit_network(net, _learnable_codes(net), TrainingConfig(max_epochs=2, batch_size=32, verbose=0))
    assert len(made) == 1 and made[0]() is None  # the average went with the Trainer


def test_validation_swap_exchanges_the_weights_without_copying_them():
    from lightning.pytorch.callbacks import WeightAveraging
    from torch.optim.swa_utils import AveragedModel

    net = _network(seed=1)
    module = ARGNModule(net, TrainingConfig(seed=5, verbose=0), 32)
    ema = EMAWeights(half_life=1.0)
    ema._average_model = AveragedModel(module, use_buffers=False)
    with torch.no_grad():
        for p in ema._average_model.module.parameters():
            p.add_(1.0)
    params = list(module.parameters())
    raw = [p.detach().clone() for p in params]
    averaged = [p.detach().clone() for p in ema._average_model.module.parameters()]
    pointers = [p.data_ptr() for p in ema._average_model.module.parameters()]

    ema._swap_models(module)  # validation start: the module holds the averaged weights
    # the same Parameter objects (the optimizer's), their storage moved from the average
    assert all(a is b for a, b in zip(module.parameters(), params, strict=True))
    assert [p.data_ptr() for p in module.parameters()] == pointers
    for p, a in zip(module.parameters(), averaged, strict=True):
        torch.testing.assert_close(p.detach(), a, rtol=0, atol=0)

    # the same exchange as Lightning's clone-and-copy swap
    ema._swap_models(module)
    WeightAveraging._swap_models(ema, module)
    for p, a in zip(module.parameters(), averaged, strict=True):
        torch.testing.assert_close(p.detach(), a, rtol=0, atol=0)
    WeightAveraging._swap_models(ema, module)
    for p, r in zip(module.parameters(), raw, strict=True):
        torch.testing.assert_close(p.detach(), r, rtol=0, atol=0)
    for p, a in zip(ema._average_model.module.parameters(), averaged, strict=True):
        torch.testing.assert_close(p.detach(), a, rtol=0, atol=0)
