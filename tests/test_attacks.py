"""Privacy attacks of the evaluation suite separate a training copy from a real holdout.

DOMIAS (density ratio p_synth / p_ref) and attribute inference (1-NN trained on synthetic rows)
on 1,500-row Adult samples: a copy of the training rows must score a membership AUC >= 0.9 and
a large attribute-inference gap; fresh real rows (a perfect generator) about 0.5 and no gap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tabargn.errors import InvalidDataError
from tabargn.evaluation import evaluate
from tests.conftest import shared_data

N = 1500
QIS = ["age", "sex", "race", "education", "marital_status", "native_country", "hours_per_week"]


@pytest.fixture(scope="module")
def sets() -> dict[str, pd.DataFrame]:
    df = shared_data("adult").drop(columns="split")
    idx = np.random.default_rng(0).permutation(len(df))
    return {
        name: df.iloc[idx[i * N : (i + 1) * N]].reset_index(drop=True)
        for i, name in enumerate(["train", "holdout", "fresh"])
    }


def _summary(sets, synthetic: pd.DataFrame, **kw) -> dict:
    report = evaluate(sets["train"], synthetic, sets["holdout"], detection_rows=200, **kw)
    return report.summary()


def test_training_copy_is_caught_and_fresh_rows_are_not(sets):
    cols = [c for c in QIS if c in sets["train"].columns]
    copy = _summary(sets, sets["train"], sensitive_column="occupation", quasi_identifiers=cols)
    fresh = _summary(sets, sets["fresh"], sensitive_column="occupation", quasi_identifiers=cols)
    assert copy["domias_auc"] >= 0.9
    assert fresh["domias_auc"] == pytest.approx(0.5, abs=0.06)
    assert copy["attribute_inference_gap"] > 0.3
    assert abs(fresh["attribute_inference_gap"]) < 0.06
    assert 0 < fresh["attribute_inference_baseline"] < 1


def test_attack_options(sets, tmp_path):
    s = evaluate(sets["train"], sets["fresh"], detection_rows=200).summary()
    assert s["domias_auc"] is None and s["attribute_inference_accuracy"] is None
    off = evaluate(sets["train"], sets["fresh"], detection_rows=200, attacks=False).summary()
    assert "domias_auc" not in off
    with pytest.raises(InvalidDataError, match="sensitive_column"):
        evaluate(sets["train"], sets["fresh"], sensitive_column="nope")
    report = evaluate(
        sets["train"], sets["fresh"], sets["holdout"], detection_rows=200, sensitive_column="sex"
    )
    html = report.to_html(tmp_path / "r.html").read_text()
    assert "domias_auc" in html and "attribute_inference_gap" in html
