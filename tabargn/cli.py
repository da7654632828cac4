"""Command line: ``tabargn fit | sample | impute | evaluate | demo`` (typer).

Inputs and outputs are CSV or Parquet, chosen by the file suffix; an output suffix is checked
before any work starts. CSV inputs are sniffed: the encoding is UTF-8 if the file decodes as
UTF-8, else cp1252, else Latin-1, and the separator is guessed among ``, ; TAB |`` by
:class:`csv.Sniffer` on the first 64 KiB. ``--sep`` and ``--encoding`` override both on every
command that reads CSV (they apply to all its CSV inputs). CSV outputs are written as UTF-8 with
``,``. Long work shows progress bars; ``--quiet`` silences them.

Every error prints one line on stderr (``error: <ErrorType>: <message>``, no traceback, no usage
box): errors of the package and unreadable or unwritable files exit with status 2, usage errors
(a bad option value such as ``sample -n abc``, a missing option) with status 2, anything
unexpected with status 1 (set ``TABARGN_DEBUG=1`` to see its traceback).
Constraints and fairness come from a rules file (``--rules``, JSON or YAML, see
:func:`read_rules`).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from tabargn.errors import InvalidDataError, TabargnError
from tabargn.table_files import (
    ENCODING_HELP,
    SEP_HELP,
    check_output,
    open_table,
    read_rules,
    read_table,
    write_table,
)

console = Console(stderr=True)


def _print_error(message: str) -> None:
    # a Text is not parsed for markup (messages quote values like ['a']); never wrapped
    line = " ".join(str(message).split())
    console.print(Text.assemble(("error:", "bold red"), f" {line}"), soft_wrap=True)


def _is_usage_error(e: BaseException) -> bool:
    """A click/typer ``ClickException`` (usage errors, bad parameters, missing options).

    Duck-typed: recent typer versions vendor click, older ones raise click's own classes.
    """
    return not isinstance(e, typer.Exit | typer.Abort) and (
        callable(getattr(e, "format_message", None))
        and isinstance(getattr(e, "exit_code", None), int)
        and callable(getattr(e, "show", None))
    )


class _OneLineErrors(TyperGroup):
    """The command group: usage errors print one line instead of a usage box."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.Abort:
            _print_error("aborted")
            sys.exit(1)
        except Exception as e:
            if not _is_usage_error(e):
                raise
            if type(e).__name__ == "NoArgsIsHelpError":  # bare `tabargn`: the help text
                e.show()
                sys.exit(e.exit_code)
            ctx = getattr(e, "ctx", None)
            hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
            _print_error(f"{type(e).__name__}: {e.format_message()}{hint}")
            sys.exit(e.exit_code)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    cls=_OneLineErrors,
    add_completion=False,
    no_args_is_help=True,
    help="tabargn: tabular synthetic data with a TabularARGN-style any-order model.",
)


def _friendly(func):
    """Turns tabargn errors and OS errors (an output path that cannot be written) into a
    one-line message and exit status 2; anything unexpected into one line and status 1."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (TabargnError, OSError) as e:
            _print_error(f"{type(e).__name__}: {e}")
            raise typer.Exit(code=2) from None
        except (typer.Exit, typer.Abort):
            raise
        except Exception as e:
            if os.environ.get("TABARGN_DEBUG") or _is_usage_error(e):
                raise
            _print_error(
                f"unexpected {type(e).__name__}: {e} (set TABARGN_DEBUG=1 for the traceback)"
            )
            raise typer.Exit(code=1) from None

    return wrapper


@app.command()
@_friendly
def fit(
    data: Path = typer.Argument(
        ...,
        help="Training table (.csv or .parquet), or a directory of them: read in chunks within "
        "--memory-budget-mb (not held in memory).",
    ),
    output: Path = typer.Option(..., "-o", "--output", help="Model directory to write."),
    memory_budget_mb: float = typer.Option(512, help="Memory for the data side of the fit."),
    max_epochs: int = typer.Option(100, help="Upper limit on epochs."),
    max_time: float = typer.Option(None, help="Upper limit on training seconds."),
    model_size: str = typer.Option("auto", help="auto | small | medium | large."),
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
    sep: str = typer.Option(None, "--sep", help=SEP_HELP),
    encoding: str = typer.Option(None, "--encoding", help=ENCODING_HELP),
    rules: Path = typer.Option(
        None, help="Rules file (JSON or YAML): constraints every generated row satisfies."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
) -> None:
    """Fit a model on DATA and save it to a directory."""
    from tabargn import TabularARGN

    if output.exists() and not output.is_dir():
        raise InvalidDataError(f"-o {output} is a file; fit writes a model directory")
    import pandas as pd

    from tabargn.out_of_core import HEAD_ROWS

    if data.is_dir():  # streamed (tabargn.out_of_core); a file is read whole, as before
        source = open_table(data, sep, encoding)
        columns = source.columns
    else:
        source = read_table(data, sep, encoding)
        columns = list(source.columns)
    unknown = [c for c in drop if c not in columns]
    if unknown:
        raise InvalidDataError(f"--drop names columns {unknown} that {data} does not have")
    kept = [c for c in columns if c not in set(drop)]
    source = source[kept] if isinstance(source, pd.DataFrame) else source.select(kept)
    head = source if isinstance(source, pd.DataFrame) else source.head(HEAD_ROWS)
    text = _text_settings(head, text_column, text_detection, text_option, text_model, text_base_url)
    constraints, _ = read_rules(rules)
    started = time.perf_counter()
    model = TabularARGN(
        **text,
        constraints=constraints or None,
        max_epochs=max_epochs,
        max_time=max_time,
        model_size=model_size,
        value_protection=not no_value_protection,
        device=device,
        random_state=seed,
        verbose=0 if quiet else 1,
        memory_budget_mb=memory_budget_mb,
    ).fit(source)
    model.save(output)
    if not quiet:
        console.print(
            f"fitted on {model.training_['n_rows']:,} rows x {len(kept)} columns in "
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
    output: Path = typer.Option(
        ...,
        "-o",
        "--output",
        help="Output table (.csv or .parquet), or a directory (no suffix) for Parquet parts "
        "written in bounded memory.",
    ),
    conditions: Path = typer.Option(None, help="Table of condition rows (one output row each)."),
    temperature: float = typer.Option(1.0, help="Softmax temperature."),
    top_p: float = typer.Option(1.0, help="Nucleus sampling threshold."),
    rows_per_part: int = typer.Option(250_000, help="Rows per Parquet part (directory output)."),
    sep: str = typer.Option(None, "--sep", help=SEP_HELP + " Applies to --conditions."),
    encoding: str = typer.Option(None, "--encoding", help=ENCODING_HELP),
    rules: Path = typer.Option(
        None,
        help="Rules file whose 'fairness' entry is applied (the model keeps its own constraints).",
    ),
    text_model: str = typer.Option(None, help=_LOAD_TEXT_MODEL_HELP),
    text_base_url: str = typer.Option(None, help="Base URL of that server."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Generate synthetic rows from a saved model."""
    from tabargn import TabularARGN

    to_parts = output.suffix == ""  # a directory of Parquet parts
    if to_parts:
        if conditions is not None or n is None:
            raise InvalidDataError("a directory output takes -n and no --conditions")
    else:
        check_output(output)
    cond = read_table(conditions, sep, encoding) if conditions else None
    _, fairness = read_rules(rules)
    model = TabularARGN.load(model_dir, text_backend=_chat_backend(text_model, text_base_url))
    started = time.perf_counter()
    if to_parts:
        with Progress(disable=quiet, transient=True) as progress:
            task = progress.add_task("sampling", total=n)
            parts = model.sample_to_parquet(
                output,
                n,
                rows_per_part=rows_per_part,
                temperature=temperature,
                top_p=top_p,
                progress=lambda done: progress.update(task, completed=done),
            )
        what = f"{n:,} rows in {len(parts)} Parquet parts to [bold]{output}[/]"
    else:
        out = model.sample(
            n, conditions=cond, temperature=temperature, top_p=top_p, fairness=fairness
        )
        write_table(out, output)
        what = f"{len(out):,} rows to [bold]{output}[/]"
    if not quiet:
        console.print(f"wrote {what} in {time.perf_counter() - started:.1f} s")
        if model.text_models_:
            console.print(f"text columns {list(model.text_models_)} generated per row")


@app.command()
@_friendly
def impute(
    model_dir: Path = typer.Argument(..., help="Model directory written by `tabargn fit`."),
    data: Path = typer.Argument(..., help="Table with missing cells."),
    output: Path = typer.Option(..., "-o", "--output", help="Output table (.csv or .parquet)."),
    sep: str = typer.Option(None, "--sep", help=SEP_HELP),
    encoding: str = typer.Option(None, "--encoding", help=ENCODING_HELP),
    text_model: str = typer.Option(None, help=_LOAD_TEXT_MODEL_HELP),
    text_base_url: str = typer.Option(None, help="Base URL of that server."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Fill the missing cells of DATA; observed cells are kept."""
    from tabargn import TabularARGN

    check_output(output)
    df = read_table(data, sep, encoding)
    model = TabularARGN.load(model_dir, text_backend=_chat_backend(text_model, text_base_url))
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
    sep: str = typer.Option(None, "--sep", help=SEP_HELP + " Applies to every CSV input."),
    encoding: str = typer.Option(None, "--encoding", help=ENCODING_HELP),
    rules: Path = typer.Option(
        None, help="Rules file: count rows breaking its constraints, report its parity gaps."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Score SYNTHETIC against REAL (and HOLDOUT): fidelity, detection, utility, privacy."""
    from tabargn import evaluate as run_evaluate

    for path in (report, json_out):
        if path is not None and path.is_dir():
            raise InvalidDataError(f"output {path} is a directory; give a file path")
    constraints, fairness = read_rules(rules)
    result = run_evaluate(
        constraints=constraints or None,
        fairness=fairness,
        real=read_table(real, sep, encoding),
        synthetic=read_table(synthetic, sep, encoding),
        holdout=read_table(holdout, sep, encoding) if holdout else None,
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
