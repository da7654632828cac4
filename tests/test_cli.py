"""The ``tabargn`` command line (typer's CliRunner): fit, sample, impute, evaluate, demo, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tabargn.cli import app
from tabargn.datasets import load_adult
from tabargn.errors import InvalidDataError
from tabargn.table_files import read_table, sniff_csv

runner = CliRunner()
QUICK = ["--max-epochs", "2", "--model-size", "small", "--quiet"]


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def ok(*args: str):
    result = invoke(*args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def fails_cleanly(*args: str, match: str, code: int = 2):
    """Exit status 2, exactly one line ``error: ...`` containing ``match``: no traceback, no
    usage box."""
    result = invoke(*args)
    assert result.exit_code == code, result.output + repr(result.exception)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error:") and match in lines[0], result.output
    return result


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """A small Adult split as CSV and Parquet, and a model fitted by ``tabargn fit`` on the CSV."""
    root = tmp_path_factory.mktemp("cli")
    df = load_adult().sample(n=800, random_state=0).reset_index(drop=True)
    paths = {
        "csv": root / "train.csv",
        "parquet": root / "train.parquet",
        "holdout": root / "holdout.parquet",
        "model": root / "model",
    }
    df.iloc[:600].to_csv(paths["csv"], index=False)
    df.iloc[:600].to_parquet(paths["parquet"], index=False)
    df.iloc[600:].to_parquet(paths["holdout"], index=False)
    ok("fit", paths["csv"], "-o", paths["model"], *QUICK)
    return paths


def test_fit_csv_writes_model_dir(files):
    names = {p.name for p in files["model"].iterdir()}
    assert names == {"config.json", "encoders.json", "model.safetensors"}
    config = json.loads((files["model"] / "config.json").read_text())
    assert config["params"]["model_size"] == "small"
    assert config["params"]["max_epochs"] == 2


def test_fit_parquet_with_drop_and_message(files, tmp_path):
    result = ok(
        "fit",
        files["parquet"],
        "-o",
        tmp_path / "m",
        "--max-epochs",
        "1",
        "--model-size",
        "small",
        "--drop",
        "fnlwgt",
        "--drop",
        "education_num",
    )
    assert "fitted on 600 rows x 13 columns" in result.output
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert "fnlwgt" not in config["feature_names"] and len(config["feature_names"]) == 13


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_sample_n(files, tmp_path, suffix):
    out = tmp_path / f"syn{suffix}"
    result = ok("sample", files["model"], "-n", "250", "-o", out)
    assert "wrote 250 rows" in result.output
    syn = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out)
    assert len(syn) == 250
    assert list(syn.columns) == list(pd.read_parquet(files["parquet"]).columns)


def test_sample_conditions(files, tmp_path):
    cond = tmp_path / "cond.csv"
    pd.DataFrame({"sex": ["Female"] * 40}).to_csv(cond, index=False)
    out = tmp_path / "syn.parquet"
    ok("sample", files["model"], "--conditions", cond, "-o", out, "-q")
    syn = pd.read_parquet(out)
    assert len(syn) == 40 and (syn["sex"] == "Female").all()


def test_impute_fills_only_missing(files, tmp_path):
    df = pd.read_parquet(files["holdout"]).drop(columns="native_country")
    df = df[df["workclass"].notna() & df["occupation"].notna()].head(100).reset_index(drop=True)
    holes = df.copy()
    blank = np.arange(len(df)) % 3 == 0
    holes.loc[blank, "occupation"] = np.nan
    path, out = tmp_path / "holes.csv", tmp_path / "filled.csv"
    holes.to_csv(path, index=False)
    result = ok("impute", files["model"], path, "-o", out)
    assert f"imputed {int(blank.sum())} cells" in result.output
    filled = pd.read_csv(out)
    assert filled["occupation"].notna().all()
    assert (filled.loc[~blank, "occupation"] == df.loc[~blank, "occupation"]).all()
    assert "native_country" in filled.columns and filled["native_country"].notna().all()


def test_evaluate_report_and_json(files, tmp_path):
    syn = tmp_path / "syn.parquet"
    ok("sample", files["model"], "-n", "300", "-o", syn, "-q")
    report, summary = tmp_path / "out" / "report.html", tmp_path / "summary.json"
    args = ["evaluate", files["csv"], syn, "--holdout", files["holdout"], "--target", "income"]
    result = ok(*args, "--report", report, "--json", summary)
    assert "univariate_accuracy" in result.output and "report written to" in result.output
    assert report.read_text().lstrip().lower().startswith("<!doctype html")
    metrics = json.loads(summary.read_text())
    assert 0 <= metrics["univariate_accuracy"] <= 1 and metrics["tstr_score"] is not None


def test_demo_quick(tmp_path):
    out = tmp_path / "demo"
    result = ok("demo", "--rows", "500", "--max-time", "3", "-o", out)
    assert "tabargn demo" in result.output and "report:" in result.output
    assert (out / "report.html").exists() and (out / "model" / "config.json").exists()
    assert len(pd.read_parquet(out / "synthetic.parquet")) == 400


def test_help_lists_commands():
    result = ok("--help")
    for command in ("fit", "sample", "impute", "evaluate", "demo"):
        assert command in result.output


# ------------------------------------------------------------------------------ error paths
def test_missing_input_file(tmp_path):
    fails_cleanly("fit", tmp_path / "nope.csv", "-o", tmp_path / "m", match="does not exist")


def test_unsupported_suffix(tmp_path):
    path = tmp_path / "data.txt"
    path.write_text("a,b\n1,2\n")
    fails_cleanly("fit", path, "-o", tmp_path / "m", match="use a .csv or .parquet")


def test_unsupported_output_suffix(files, tmp_path):
    fails_cleanly("sample", files["model"], "-n", "5", "-o", tmp_path / "x.json", match=".csv")


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"not a parquet file")
    fails_cleanly("fit", path, "-o", tmp_path / "m", match="cannot read")


def test_missing_model_dir(tmp_path):
    fails_cleanly("sample", tmp_path / "nomodel", "-n", "5", "-o", tmp_path / "s.csv", match="")


def test_corrupt_model_dir(files, tmp_path):
    broken = tmp_path / "broken-model"
    broken.mkdir()
    for p in files["model"].iterdir():
        (broken / p.name).write_bytes(p.read_bytes())
    (broken / "config.json").write_text("{ not json")
    fails_cleanly("sample", broken, "-n", "5", "-o", tmp_path / "s.csv", match="corrupt")
    (broken / "config.json").write_bytes((files["model"] / "config.json").read_bytes())
    (broken / "model.safetensors").write_bytes(b"\x00" * 64)
    fails_cleanly("impute", broken, files["csv"], "-o", tmp_path / "f.csv", match="corrupt")


def test_drop_unknown_column(files, tmp_path):
    fails_cleanly("fit", files["csv"], "-o", tmp_path / "m", "--drop", "nope", *QUICK, match="nope")


def test_conditions_unknown_column(files, tmp_path):
    cond = tmp_path / "cond.csv"
    pd.DataFrame({"planet": ["Mars"]}).to_csv(cond, index=False)
    fails_cleanly(
        "sample", files["model"], "--conditions", cond, "-o", tmp_path / "s.csv", match="planet"
    )


def test_evaluate_unknown_target(files, tmp_path):
    fails_cleanly(
        "evaluate", files["csv"], files["parquet"], "--target", "nope", "-q", match="nope"
    )


def test_unwritable_output(files, tmp_path):
    (tmp_path / "afile").write_text("")
    fails_cleanly(
        "sample", files["model"], "-n", "3", "-o", tmp_path / "afile" / "s.csv", match="afile"
    )


# ------------------------------------------------------------------------------ CSV sniffing
@pytest.fixture(scope="module")
def european(tmp_path_factory) -> dict:
    """A semicolon-separated Latin-1 CSV with accented categories, and the frame behind it."""
    root = tmp_path_factory.mktemp("european")
    rng = np.random.default_rng(0)
    n = 240
    df = pd.DataFrame(
        {
            "ville": rng.choice(["Zürich", "Genève", "Malmö", "São Paulo"], n),
            "prix": rng.integers(10, 500, n),
            "note": rng.choice(["très bien", "bien, sans plus", "médiocre"], n),
            "taux": rng.normal(size=n).round(2),
        }
    )
    path = root / "villes.csv"
    df.to_csv(path, sep=";", encoding="latin-1", index=False)
    return {"df": df, "csv": path, "root": root}


def test_semicolon_latin1_csv_is_sniffed_and_fits(european, tmp_path):
    df, path = european["df"], european["csv"]
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")  # really not UTF-8
    assert sniff_csv(path) == (";", "cp1252")
    model = tmp_path / "model"
    ok("fit", path, "-o", model, *QUICK)
    config = json.loads((model / "config.json").read_text())
    assert config["feature_names"] == list(df.columns)  # four columns, not one junk column
    out = tmp_path / "syn.csv"
    ok("sample", model, "-n", "200", "-o", out, "-q")
    syn = pd.read_csv(out)  # outputs are UTF-8 with ","
    assert set(syn["ville"]) <= set(df["ville"]) and set(syn["note"]) <= set(df["note"])
    assert pd.api.types.is_integer_dtype(syn["prix"]) and pd.api.types.is_float_dtype(syn["taux"])
    # conditions read with explicit --sep/--encoding; impute sniffs a tab-separated UTF-8 file
    cond = tmp_path / "cond.csv"
    pd.DataFrame({"ville": ["Zürich", "Malmö"]}).to_csv(
        cond, sep="|", encoding="cp1252", index=False
    )
    out = tmp_path / "cond_out.parquet"
    ok("sample", model, "--conditions", cond, "--sep", "|", "--encoding", "cp1252", "-o", out, "-q")
    assert pd.read_parquet(out)["ville"].tolist() == ["Zürich", "Malmö"]
    holes = df.head(30).copy()
    holes.loc[::3, "note"] = None
    tsv = tmp_path / "holes.csv"
    holes.to_csv(tsv, sep="\t", index=False)
    ok("impute", model, tsv, "-o", tmp_path / "filled.csv", "-q")
    filled = pd.read_csv(tmp_path / "filled.csv")
    assert filled["note"].notna().all() and filled["ville"].tolist() == holes["ville"].tolist()


def test_sep_and_encoding_override_the_sniffer(european, tmp_path):
    path = european["csv"]
    assert read_table(path).shape[1] == 4
    assert read_table(path, sep=",").shape[1] == 1  # the junk column sniffing avoids
    assert list(read_table(path, sep=";", encoding="latin-1").columns) == [
        "ville",
        "prix",
        "note",
        "taux",
    ]
    assert (
        read_table(path, encoding="latin-1")["ville"]
        .isin(["Zürich", "Genève", "Malmö", "São Paulo"])
        .all()
    )
    with pytest.raises(InvalidDataError, match="utf-8"):
        read_table(path, encoding="utf-8")
    tab = tmp_path / "tab.csv"
    tab.write_text("a\tb\n1\t2\n")
    assert read_table(tab, sep="\\t").shape == (1, 2) and read_table(tab, sep="tab").shape == (1, 2)
    single = tmp_path / "single.csv"
    single.write_text("only\n1\n2\n")
    assert read_table(single).columns.tolist() == ["only"]  # nothing to sniff: ","
    fails_cleanly("fit", path, "-o", tmp_path / "m", "--encoding", "utf-8", match="as utf-8")
    fails_cleanly("fit", path, "-o", tmp_path / "m", "--encoding", "klingon", match="klingon")
    fails_cleanly("evaluate", path, path, "--sep", "", match="--sep")


# ------------------------------------------------------------------------------ one-line errors
def test_usage_errors_are_one_line(files, tmp_path):
    out = tmp_path / "s.csv"
    fails_cleanly("sample", files["model"], "-n", "abc", "-o", out, match="'-n'")
    fails_cleanly("sample", files["model"], "-n", "5", match="--output")  # missing option
    fails_cleanly("sample", files["model"], "-n", "5", "-o", out, "--bogus", match="--bogus")
    fails_cleanly("nosuchcommand", match="nosuchcommand")
    fails_cleanly(
        "fit", files["csv"], "-o", tmp_path / "m", "--max-epochs", "x", match="max-epochs"
    )
    assert not out.exists()


def test_output_format_is_checked_before_any_work(files, tmp_path):
    # the missing model would fail too: the output suffix is checked first
    fails_cleanly(
        "sample",
        tmp_path / "no-model",
        "-n",
        "5",
        "-o",
        tmp_path / "out.xlsx",
        match="use a .csv or .parquet",
    )
    fails_cleanly(
        "impute",
        tmp_path / "no-model",
        tmp_path / "no.csv",
        "-o",
        tmp_path / "out.xlsx",
        match=".parquet",
    )
    (tmp_path / "dir.csv").mkdir()
    fails_cleanly(
        "sample", files["model"], "-n", "5", "-o", tmp_path / "dir.csv", match="directory"
    )
    (tmp_path / "taken").write_text("")
    fails_cleanly("fit", files["csv"], "-o", tmp_path / "taken", *QUICK, match="model directory")


def test_unexpected_errors_are_one_line(files, tmp_path, monkeypatch):
    import tabargn.cli

    def broken(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(tabargn.cli, "read_table", broken)
    fails_cleanly(
        "fit", files["csv"], "-o", tmp_path / "m", match="RuntimeError: boom second line", code=1
    )


def test_sample_to_a_directory_writes_parquet_parts(files, tmp_path):
    out = tmp_path / "parts"
    ok("sample", files["model"], "-n", "1500", "-o", out, "--rows-per-part", "600", "--quiet")
    assert sorted(p.name for p in out.iterdir()) == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    assert len(pd.read_parquet(out)) == 1500
    fails_cleanly("sample", files["model"], "-o", tmp_path / "parts2", match="-n")
