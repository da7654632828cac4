"""Constraints and fairness: rules that every generated row satisfies, and statistical parity.

Part 1 fits a model on loans (``lending_club_loans`` from ``../shared/data`` beside the
checkout, or the folder in ``$TABARGN_DATA``) with five rules: a sub-grade only with its own
grade, a balance never above the loan, a principal repaid never above the loan, an interest
rate in a legal range, and a total paid that equals the sum of its parts. They are enforced by
construction (masked draws, no rejection loop), also together with ``conditions`` and
``where``. Part 2 samples the bundled Adult table with ``fairness``: the share of incomes over
50K is the same for women and men. Run: ``python examples/constraints.py`` (about a minute on
2 CPU cores; small models and few epochs to stay short).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import torch

from tabargn import TabularARGN
from tabargn.constraints import FixedCombinations, Inequality, Range, Sum, parity_gap, satisfied
from tabargn.datasets import load_adult

torch.set_num_threads(2)
DATA = Path(
    os.environ.get("TABARGN_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data")
)

# ------------------------------------------------------------------ 1. rules on loans
columns = [
    "grade", "sub_grade", "homeownership", "loan_amount", "balance", "interest_rate",
    "paid_principal", "paid_interest", "paid_late_fees",
]  # fmt: skip
loans = pd.read_parquet(DATA / "lending_club_loans.parquet", columns=columns).head(2000)
parts = ["paid_principal", "paid_interest", "paid_late_fees"]
loans["paid_total"] = loans[parts].sum(axis=1).round(2)  # exact in the data, so a rule
rules = [
    FixedCombinations(["grade", "sub_grade"]),
    Inequality("balance", "loan_amount"),
    Inequality("paid_principal", "loan_amount"),
    Range("interest_rate", 5.0, 31.0),
    Sum(parts, "paid_total"),
]
model = TabularARGN(
    constraints=rules, model_size="small", max_epochs=2, random_state=0, verbose=0
).fit(loans)

plain_rules, model.constraints_ = model.constraints_, []  # the same network, rules off
plain = model.sample(1000)
model.constraints_ = plain_rules
synthetic = model.sample(1000)
per_rule = {type(r).__name__: int((~r.satisfied(plain)).sum()) for r in rules[:3]}
print(f"without the rules, rows breaking (first three rules): {per_rule}; sums broken: ", end="")
print(f"{int((~rules[-1].satisfied(plain)).sum())} of 1000")
print(f"rows breaking a rule with the rules: {int((~satisfied(rules, synthetic)).sum())} of 1000")

given = pd.DataFrame({"grade": ["A", "C"] * 200})
restricted = model.sample(conditions=given, where={"interest_rate": (8.0, 15.0)})
kept = (restricted["grade"] == given["grade"]).all() and restricted["interest_rate"].between(
    8, 15
).all()
print(
    f"with conditions and where: {int((~satisfied(rules, restricted)).sum())} rows break a rule; "
    f"conditions and where kept: {bool(kept)}"
)

# ------------------------------------------------------------------ 2. fairness on Adult
adult = load_adult().sample(n=3000, random_state=0).reset_index(drop=True)
fair_model = TabularARGN(model_size="small", max_epochs=2, random_state=0, verbose=0).fit(adult)
fairness = {"target": "income", "sensitive": ["sex"]}
unfair = fair_model.sample(2000)
fair = fair_model.sample(2000, fairness=fairness)
print(
    "parity gap of income across sex: "
    f"real {parity_gap(adult, 'income', ['sex'])['sex']:.3f}, "
    f"sample {parity_gap(unfair, 'income', ['sex'])['sex']:.3f}, "
    f"fair sample {parity_gap(fair, 'income', ['sex'])['sex']:.3f}"
)
