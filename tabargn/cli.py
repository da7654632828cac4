"""Command line: ``tabargn fit | sample | impute | evaluate | demo`` (typer).

Inputs and outputs are CSV or Parquet, chosen by the file suffix. Long work shows progress bars;
``--quiet`` silences them. Errors of the package are printed as one line (no traceback) and the
command exits with status 2.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tabargn.errors import InvalidDataError, TabargnError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="tabargn: tabular synthetic data with a TabularARGN-style any-order model.",
)
console = Console(stderr=True)


def _friendly(func):
    """Turns tabargn errors and OS errors (an output path that cannot be written) into a
    one-line message and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (TabargnError, OSError) as e:
            # a Text is not parsed for markup (messages quote values like ['a']); no wrapping
            message = Text.assemble(("error:", "bold red"), f" {type(e).__name__}: {e}")
            console.print(message, soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper


def read_table(path: Path) -> pd.DataFrame:
    """Reads a ``.csv`` or ``.parquet`` file.

    Raises:
        InvalidDataError: Unknown suffix, missing or unreadable file.
    """
    suffix = path.suffix.lower()
    if not path.exists():
        raise InvalidDataError(f"file {path} does not exist")
    try:
        if suffix == ".csv":
            return pd.read_csv(path)
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
    except (OSError, ValueError) as e:
        raise InvalidDataError(f"cannot read {path}: {e}") from None
    raise InvalidDataError(f"{path}: use a .csv or .parquet file")


def write_table(df: pd.DataFrame, path: Path) -> None:
    """Writes a ``.csv`` or ``.parquet`` file (by suffix), creating parent folders."""
    suffix = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        df.to_csv(path, index=False)
    elif suffix in (".parquet", ".pq"):
        df.to_parquet(path, index=False)
    else:
        raise InvalidDataError(f"{path}: use a .csv or .parquet output file")


@app.command()
@_friendly
def fit(
    data: Path = typer.Argument(..., help="Training table (.csv or .parquet)."),
    output: Path = typer.Option(..., "-o", "--output", help="Model directory to write."),
    max_epochs: int = typer.Option(100, help="Upper limit on epochs."),
    max_time: float = typer.Option(None, help="Upper limit on training seconds."),
    model_size: str = typer.Option("medium", help="small | medium | large."),
    drop: list[str] = typer.Option([], "--drop", help="Columns to leave out (repeatable)."),
    text_column: list[str] = typer.Option(
        [],
        "--text-column",
        help="Free-text column, generated per row by llm_text (repeatable). String columns "
        "that hold free text are also detected unless --no-text-detection.",
    ),
    text_detection: bool = typer.Option(
        True, help="Detect free-text columns (otherwise only --text-column ones are text)."
    ),
    text_option: list[str] = typer.Option(
        [],
        "--text-option",
        help="Text model setting KEY=VALUE (repeatable; VALUE read as JSON if it parses), e.g. "
        "max_length=64, max_epochs=5, max_time=300, hidden_dim=128.",
    ),
    text_model: str = typer.Option(
        None,
        help="Generate text with this model on an OpenAI-compatible server instead of the "
        "offline model (key from $OPENAI_API_KEY).",
    ),
    text_base_url: str = typer.Option(
        None, help="Base URL of that server, e.g. http://localhost:8000/v1."
    ),
    no_value_protection: bool = typer.Option(False, help="Keep rare categories and extremes."),
    device: str = typer.Option("cpu", help="cpu | cuda | auto."),
    seed: int = typer.Option(0, help="Random seed."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Fit a model on DATA and save it to a directory."""
    from tabargn import TabularARGN

    df = read_table(data)
    unknown = [c for c in drop if c not in df.columns]
    if unknown:
        raise InvalidDataError(f"--drop names columns {unknown} that {data} does not have")
    df = df.drop(columns=list(drop))
    text = _text_settings(df, text_column, text_detection, text_option, text_model, text_base_url)
    started = time.perf_counter()
    model = TabularARGN(
        **text,
        max_epochs=max_epochs,
        max_time=max_time,
        model_size=model_size,
        value_protection=not no_value_protection,
        device=device,
        random_state=seed,
        verbose=0 if quiet else 1,
    ).fit(df)
    model.save(output)
    if not quiet:
        console.print(
            f"fitted on {len(df):,} rows x {df.shape[1]} columns in "
            f"{time.perf_counter() - started:.1f} s ({model.training_['epochs']} epochs); "
            f"model saved to [bold]{output}[/]"
        )
        if model.text_models_:
            console.print(
                f"text columns {list(model.text_models_)}: text models fitted in "
                f"{model.training_['text_seconds']:.1f} s (included above)"
            )


_LOAD_TEXT_MODEL_HELP = (
    "Model fitted with --text-model: the server model to generate its texts with (a saved "
    "model's server address and key variable are never used; key from $OPENAI_API_KEY)."
)


def _chat_backend(model_name: str | None, base_url: str | None):
    """The chat client of ``--text-model`` / ``--text-base-url``, or None."""
    if model_name is None:
        if base_url is not None:
            raise InvalidDataError("--text-base-url needs --text-model (the model name)")
        return None
    from llm_text import OpenAIChatClient

    return OpenAIChatClient(model_name, base_url=base_url)


def _text_settings(df, columns, detection, options, model_name, base_url) -> dict:
    """TabularARGN keywords for the text columns of the ``fit`` command."""
    unknown = [c for c in columns if c not in df.columns]
    if unknown:
        raise InvalidDataError(f"--text-column names columns not in the data: {unknown}")
    encoding_types = {c: "text" for c in columns}
    if not detection:
        from llm_text._text import is_text_column

        for name in df.columns:
            if name not in encoding_types and is_text_column(df[name]):
                encoding_types[name] = "categorical"
    parsed = {}
    for item in options:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidDataError(f"--text-option {item!r}: use KEY=VALUE, e.g. max_epochs=5")
        try:
            parsed[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            parsed[key.strip()] = value
    backend = "offline"
    if model_name is not None:
        from llm_text import OpenAIChatClient

        backend = OpenAIChatClient(model_name, base_url=base_url)
    elif base_url is not None:
        raise InvalidDataError("--text-base-url needs --text-model (the model name on the server)")
    return {
        "encoding_types": encoding_types or None,
        "text_backend": backend,
        "text_options": parsed or None,
    }


@app.command()
@_friendly
def sample(
    model_dir: Path = typer.Argument(..., help="Model directory written by `tabargn fit`."),
    n: int = typer.Option(None, "-n", "--n-samples", help="Rows to generate."),
    output: Path = typer.Option(..., "-o", "--output", help="Output table (.csv or .parquet)."),
    conditions: Path = typer.Option(None, help="Table of condition rows (one output row each)."),
    temperature: float = typer.Option(1.0, help="Softmax temperature."),
    top_p: float = typer.Option(1.0, help="Nucleus sampling threshold."),
    text_model: str = typer.Option(None, help=_LOAD_TEXT_MODEL_HELP),
    text_base_url: str = typer.Option(None, help="Base URL of that server."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Generate synthetic rows from a saved model."""
    from tabargn import TabularARGN

    model = TabularARGN.load(model_dir, text_backend=_chat_backend(text_model, text_base_url))
    cond = read_table(conditions) if conditions else None
    started = time.perf_counter()
    out = model.sample(n, conditions=cond, temperature=temperature, top_p=top_p)
    write_table(out, output)
    if not quiet:
        console.print(
            f"wrote {len(out):,} rows to [bold]{output}[/] in {time.perf_counter() - started:.1f} s"
        )
        if model.text_models_:
            console.print(f"text columns {list(model.text_models_)} generated per row")


@app.command()
@_friendly
def impute(
    model_dir: Path = typer.Argument(..., help="Model directory written by `tabargn fit`."),
    data: Path = typer.Argument(..., help="Table with missing cells."),
    output: Path = typer.Option(..., "-o", "--output", help="Output table (.csv or .parquet)."),
    text_model: str = typer.Option(None, help=_LOAD_TEXT_MODEL_HELP),
    text_base_url: str = typer.Option(None, help="Base URL of that server."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Fill the missing cells of DATA; observed cells are kept."""
    from tabargn import TabularARGN

    model = TabularARGN.load(model_dir, text_backend=_chat_backend(text_model, text_base_url))
    df = read_table(data)
    out = model.impute(df)
    write_table(out, output)
    if not quiet:
        console.print(f"imputed {int(df.isna().sum().sum()):,} cells; wrote [bold]{output}[/]")


def _print_summary(summary: dict) -> None:
    table = Table(title="evaluation summary")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in summary.items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.4f}")
        elif value is not None and not isinstance(value, dict | list):
            table.add_row(key, str(value))
    Console().print(table)


@app.command()
@_friendly
def evaluate(
    real: Path = typer.Argument(..., help="Training (real) table."),
    synthetic: Path = typer.Argument(..., help="Synthetic table."),
    holdout: Path = typer.Option(None, help="Real rows not used in training."),
    target: str = typer.Option(None, help="Target column for TSTR utility."),
    text_column: list[str] = typer.Option(
        [], "--text-column", help="Free-text column scored by the text metrics (repeatable)."
    ),
    text_consistency_column: str = typer.Option(
        None, help="Categorical column the texts must agree with (text consistency check)."
    ),
    report: Path = typer.Option(None, "--report", help="Write the HTML report here."),
    json_out: Path = typer.Option(None, "--json", help="Write the summary as JSON here."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Score SYNTHETIC against REAL (and HOLDOUT): fidelity, detection, utility, privacy."""
    from tabargn import evaluate as run_evaluate

    result = run_evaluate(
        real=read_table(real),
        synthetic=read_table(synthetic),
        holdout=read_table(holdout) if holdout else None,
        target=target,
        text_columns=list(text_column) or None,
        text_consistency_column=text_consistency_column,
    )
    summary = result.summary()
    if report:
        result.to_html(report)
    if json_out:
        json_out.write_text(json.dumps(summary, indent=2, default=str))
    if not quiet:
        _print_summary(summary)
        if report:
            console.print(f"report written to [bold]{report}[/]")


@app.command()
@_friendly
def demo(
    output: Path = typer.Option(Path("tabargn-demo-output"), "-o", "--output"),
    rows: int = typer.Option(12_000, help="Rows of the bundled adult table to use."),
    max_time: float = typer.Option(90.0, help="Training time limit in seconds."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Fit on the bundled Adult census table, sample, evaluate and write the report."""
    from tabargn import TabularARGN, evaluate
    from tabargn.datasets import load_adult

    say = (lambda *_: None) if quiet else console.print
    df = load_adult().sample(n=min(rows, 48_842), random_state=0).reset_index(drop=True)
    n_train = int(len(df) * 0.8)
    train, holdout = df.iloc[:n_train], df.iloc[n_train:]
    say(
        f"[bold]tabargn demo[/]: UCI Adult (CC BY 4.0), {len(train):,} training rows, "
        f"{len(holdout):,} holdout rows, {df.shape[1]} columns"
    )
    started = time.perf_counter()
    model = TabularARGN(random_state=0, max_time=max_time, verbose=0 if quiet else 1).fit(train)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    synthetic = model.sample(n_samples=len(train))
    sample_s = time.perf_counter() - started
    output.mkdir(parents=True, exist_ok=True)
    model.save(output / "model")
    write_table(synthetic, output / "synthetic.parquet")
    result = evaluate(real=train, synthetic=synthetic, holdout=holdout, target="income")
    result.to_html(output / "report.html")
    summary = result.summary()
    if not quiet:
        _print_summary(
            {
                "fit seconds": fit_s,
                "sample rows/s": len(synthetic) / sample_s,
                **{k: summary.get(k) for k in _DEMO_KEYS if summary.get(k) is not None},
            }
        )
    say(f"model:     {output / 'model'}")
    say(f"synthetic: {output / 'synthetic.parquet'}")
    say(f"report:    [bold]{(output / 'report.html').resolve()}[/]")


_DEMO_KEYS = (
    "univariate_accuracy",
    "univariate_accuracy_max",
    "bivariate_accuracy",
    "bivariate_accuracy_max",
    "detection_score",
    "tstr_score",
    "trtr_score",
    "dcr_share",
    "identical_match_share",
)


if __name__ == "__main__":  # pragma: no cover
    app()
