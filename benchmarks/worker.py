"""Run ONE generator on ONE training table, in the python of the generator's venv.

    python benchmarks/worker.py GENERATOR TRAIN_PARQUET N OUT_PARQUET TIMINGS_JSON [--epochs E] [--seed S]

Fits the generator on TRAIN_PARQUET, samples N rows, writes them to OUT_PARQUET and writes
TIMINGS_JSON (fit/sample seconds, peak memory, device, threads, versions, host). It is started by
`benchmarks/run.py generate`, one subprocess per generator, and must only need the standard
library, pandas/pyarrow and the generator's own package, because it runs in either venv
(`.venv` for tabargn, `.venv-peers` for mostlyai-engine and SDV).

Peak memory: `peak_rss_polled_mb` is the largest sum of RSS over this process and all its descendants,
polled from /proc every 0.2 s; `ru_maxrss_self_mb` / `ru_maxrss_children_mb` are the kernel's own
high-water marks (children: the largest single waited-for child). `peak_rss_mb` (the table's figure) is
max(polled tree peak, ru_maxrss of this process).

CPU time: `fit_cpu_s` / `sample_cpu_s` are user+system seconds of this process (all threads) and its
waited-for children during fit / sample. On a loaded shared machine wall time mostly measures the
other users; CPU seconds are much steadier (but do not show parallel speed-ups).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.metadata as _md
import json
import os
import platform
import resource
import socket
import sys
import tempfile
import threading
import time
import traceback

GENERATORS = ("tabargn", "mostlyai-engine", "gaussian_copula", "ctgan", "tvae")
EPOCH_GENERATORS = ("tabargn", "mostlyai-engine", "ctgan", "tvae")


# ----------------------------------------------------------------------------- memory
def _children_of(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/children") as f:
                    out.extend(int(x) for x in f.read().split())
            except OSError:
                pass
    except OSError:
        pass
    return out


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _tree_rss(pid: int) -> int:
    total, stack, seen = 0, [pid], set()
    while stack:
        p = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        total += _rss_bytes(p)
        stack.extend(_children_of(p))
    return total


class PeakMemory:
    """Polls the RSS of this process tree in a daemon thread; `.peak` in bytes."""

    def __init__(self, interval: float = 0.2):
        self.interval, self.peak = interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        pid = os.getpid()
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss(pid))
            self._stop.wait(self.interval)

    def start(self) -> PeakMemory:
        self._thread.start()
        return self

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(timeout=2)
        self.peak = max(self.peak, _tree_rss(os.getpid()))
        return self.peak


def _cpu_s() -> float:
    """User + system CPU seconds of this process (all threads) and its waited-for children."""
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def _maxrss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux: KiB


# ----------------------------------------------------------------------------- environment
def _version(dist: str) -> str | None:
    try:
        return _md.version(dist)
    except _md.PackageNotFoundError:
        return None


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def environment() -> dict:
    env: dict = {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_executable": sys.executable,
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": _cpu_model(),
        "nice": os.nice(0),
        "mem_total_mb": None,
        "date_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "versions": {
            d: _version(d)
            for d in (
                "tabargn",
                "mostlyai-engine",
                "sdv",
                "ctgan",
                "rdt",
                "sdmetrics",
                "torch",
                "lightning",
                "pandas",
                "numpy",
                "pyarrow",
                "scikit-learn",
            )
        },
    }
    try:
        with open("/proc/meminfo") as f:
            env["mem_total_mb"] = int(f.readline().split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    try:
        import torch

        env["torch_threads"] = torch.get_num_threads()
        env["torch_interop_threads"] = torch.get_num_interop_threads()
        env["cuda_available"] = bool(torch.cuda.is_available())
        env["cuda_device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:  # noqa: BLE001 - torch is optional for gaussian_copula
        env["torch_threads"] = env["cuda_available"] = env["cuda_device"] = None
    return env


# device and strategy as reported by the generator itself after fit (tabargn records them)
REPORTED: dict = {}
TRAINING_KEYS = (
    "epochs",
    "best_epoch",
    "batch_size",
    "learning_rate",
    "history",
    "marginal_calibration",
)


def device_used(generator: str, env: dict) -> str:
    if generator == "gaussian_copula":
        return "cpu"  # no torch involved
    if REPORTED.get("device"):
        device = REPORTED["device"]
        return f"{device} ({env['cuda_device']})" if device.startswith("cuda") else device
    # mostlyai-engine and SDV's CTGAN/TVAE (enable_gpu=True by default) pick CUDA when present
    return f"cuda ({env['cuda_device']})" if env.get("cuda_available") else "cpu"


# ----------------------------------------------------------------------------- generators
def _sdv_metadata(df):
    from sdv.metadata import Metadata

    if hasattr(Metadata, "detect_from_dataframe"):
        return Metadata.detect_from_dataframe(df, table_name="table")
    return Metadata.detect_from_dataframes({"table": df})


def make_generator(name: str, epochs: int | None, seed: int, workdir: str):
    """Return (fit(df) -> None, sample(n) -> DataFrame, params dict)."""
    params: dict = {"random_state": seed}
    if name == "tabargn":
        from tabargn import TabularARGN

        kw = {"random_state": seed}
        if epochs is not None:
            kw["max_epochs"] = epochs
        params = dict(kw)
        model = TabularARGN(**kw)

        def fit(df):
            model.fit(df)
            # what the model says it trained on, not what the machine has
            REPORTED["device"] = model.training_.get("device")
            REPORTED["strategy"] = model.training_.get("strategy")
            for key in TRAINING_KEYS:
                REPORTED[key] = model.training_.get(key)

        return fit, (lambda n: model.sample(n_samples=n)), params
    if name == "mostlyai-engine":
        from mostlyai.engine import TabularARGN

        kw = {"random_state": seed}
        if epochs is not None:
            kw["max_epochs"] = epochs
        params = dict(kw)
        kw["workspace_dir"] = os.path.join(workdir, "mostlyai-workspace")
        model = TabularARGN(**kw)

        def fit(df):
            model.fit(df)
            # its training log (one line per epoch), for the epochs it ran and its best epoch
            import glob

            import pandas as pd

            found = glob.glob(
                os.path.join(kw["workspace_dir"], "**", "progress-messages.csv"), recursive=True
            )
            try:  # informative only: never fail a run over its log
                log = pd.read_csv(found[0]).dropna(subset=["val_loss"])
                REPORTED["epochs"] = float(log["epoch"].max())
                REPORTED["best_epoch"] = float(log.loc[log["val_loss"].idxmin(), "epoch"])
                REPORTED["learning_rate"] = float(log["learn_rate"].iloc[0])
            except (IndexError, KeyError, ValueError, OSError):
                pass

        return fit, (lambda n: model.sample(n_samples=n)), params
    if name in ("gaussian_copula", "ctgan", "tvae"):
        from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer, TVAESynthesizer

        cls = {
            "gaussian_copula": GaussianCopulaSynthesizer,
            "ctgan": CTGANSynthesizer,
            "tvae": TVAESynthesizer,
        }[name]
        state: dict = {}

        def fit(df):
            # SDV has no random_state argument; seed numpy/torch/random globally instead.
            import random

            import numpy as np

            random.seed(seed)
            np.random.seed(seed)  # noqa: NPY002 - SDV draws from the legacy global RNG
            try:
                import torch

                torch.manual_seed(seed)
            except ImportError:
                pass
            md = _sdv_metadata(df)
            state["metadata"] = md.to_dict()
            kw = {"epochs": epochs} if (epochs is not None and name != "gaussian_copula") else {}
            if name != "gaussian_copula":
                # a progress bar per epoch in the log only; no effect on the model
                kw["verbose"] = True
            state["model"] = cls(md, **kw)
            sdv_major = int((_version("sdv") or "1").split(".")[0])
            # SDV 2.x single-table synthesizers take {"table": df}; 1.x take the DataFrame
            state["model"].fit({"table": df} if sdv_major >= 2 else df)

        def sample(n):
            out = state["model"].sample(num_rows=n)
            return out["table"] if isinstance(out, dict) else out

        if epochs is not None and name != "gaussian_copula":
            params["epochs"] = epochs
        params["state"] = state
        return fit, sample, params
    raise SystemExit(f"unknown generator {name!r}; choose from {GENERATORS}")


def write_parquet(df, path: str) -> list[str]:
    """Write df; columns pyarrow cannot type (mixed objects) are cast to str, NaN kept. Returns cast columns."""
    import pandas as pd

    try:
        df.to_parquet(path, index=False)
        return []
    except Exception:  # noqa: BLE001 - pyarrow raises several types here
        cast = []
        df = df.copy()
        for c in df.columns:
            if df[c].dtype == object:
                try:
                    pd.DataFrame({c: df[c]}).to_parquet(os.devnull)
                except Exception:  # noqa: BLE001
                    df[c] = df[c].map(
                        lambda v: v if (v is None or (isinstance(v, float) and v != v)) else str(v)
                    )
                    cast.append(c)
        df.to_parquet(path, index=False)
        return cast


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("generator", choices=GENERATORS)
    ap.add_argument("train_parquet")
    ap.add_argument("n", type=int)
    ap.add_argument("out_parquet")
    ap.add_argument("timings_json")
    ap.add_argument(
        "--epochs", type=int, default=None, help="cap on training epochs (omit: generator default)"
    )
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)

    import pandas as pd

    mem = PeakMemory().start()
    rec: dict = {
        "generator": a.generator,
        "n_requested": a.n,
        "epochs_override": a.epochs,
        "seed": a.seed,
        "status": "error",
    }
    t_start = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix=f"bench-{a.generator}-") as tmp:
            t0 = time.perf_counter()
            train = pd.read_parquet(a.train_parquet)
            rec["load_s"] = time.perf_counter() - t0
            rec["train_shape"] = list(train.shape)
            fit, sample, params = make_generator(a.generator, a.epochs, a.seed, tmp)
            state = params.pop("state", None)
            rec["params"] = params
            rss_before_fit = _tree_rss(os.getpid())

            t0, c0 = time.perf_counter(), _cpu_s()
            fit(train)
            rec["fit_s"] = time.perf_counter() - t0
            rec["fit_cpu_s"] = _cpu_s() - c0
            rec["peak_rss_after_fit_mb"] = mem.peak / 2**20
            if state and "metadata" in state:
                rec["sdv_metadata"] = state["metadata"]

            t0, c0 = time.perf_counter(), _cpu_s()
            syn = sample(a.n)
            rec["sample_s"] = time.perf_counter() - t0
            rec["sample_cpu_s"] = _cpu_s() - c0
            rec["sample_rows"] = int(len(syn))
            rec["sample_rows_per_s"] = len(syn) / rec["sample_s"] if rec["sample_s"] > 0 else None
            rec["synthetic_shape"] = list(syn.shape)
            missing = [c for c in train.columns if c not in syn.columns]
            extra = [c for c in syn.columns if c not in train.columns]
            rec["columns_missing"], rec["columns_extra"] = missing, extra
            rec["parquet_cast_to_str"] = write_parquet(syn, a.out_parquet)
            rec["rss_before_fit_mb"] = rss_before_fit / 2**20
            rec["status"] = "ok"
    except BaseException as e:  # noqa: BLE001 - record everything, then fail
        rec["error"] = f"{type(e).__name__}: {e}"
        rec["traceback"] = traceback.format_exc()
    finally:
        rec["total_s"] = time.perf_counter() - t_start
        rec["peak_rss_polled_mb"] = mem.stop() / 2**20
        rec["ru_maxrss_self_mb"] = _maxrss_mb(resource.RUSAGE_SELF)
        rec["ru_maxrss_children_mb"] = _maxrss_mb(resource.RUSAGE_CHILDREN)
        # the polled tree sum can miss a short spike; the kernel's own high-water mark of this process cannot
        rec["peak_rss_mb"] = max(rec["peak_rss_polled_mb"], rec["ru_maxrss_self_mb"])
        env = environment()
        rec["device"] = device_used(a.generator, env)
        rec["strategy"] = REPORTED.get("strategy") or "single process"
        # the generator's own training summary (tabargn and mostlyai-engine): epochs run, best
        # epoch, batch size, learning rate, validation history (tabargn: its calibration too)
        rec["training"] = {k: REPORTED[k] for k in TRAINING_KEYS if k in REPORTED}
        rec["env"] = env
        with open(a.timings_json, "w") as f:
            json.dump(rec, f, indent=2, default=str)
    if rec["status"] != "ok":
        print(rec.get("traceback", rec.get("error")), file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                k: rec.get(k)
                for k in (
                    "generator",
                    "fit_s",
                    "sample_s",
                    "sample_rows_per_s",
                    "peak_rss_mb",
                    "device",
                )
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
