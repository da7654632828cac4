"""Conditional generation, restrictions, rebalancing, imputation and class probabilities on Adult.

One fitted model does all of it, because TabularARGN learns every column given any subset of the
others. Run: ``python examples/conditions_imputation.py`` (about half a minute on 2 CPU cores).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from tabargn import TabularARGN
from tabargn.datasets import load_adult

torch.set_num_threads(2)

adult = load_adult().sample(n=4000, random_state=0).reset_index(drop=True)
train, test = adult.iloc[:3000], adult.iloc[3000:].reset_index(drop=True)
# impute and predict_proba raise UnknownValueError for a category the model never saw (here: very
# rare ones absent from the 3,000 training rows), so keep the unseen rows whose categories it saw
seen = pd.concat(
    [
        test[c].isna() | test[c].isin(train[c].dropna())
        for c in test.columns
        if test[c].dtype == object
    ],
    axis=1,
).all(axis=1)
test = test[seen].reset_index(drop=True)
model = TabularARGN(
    model_size="small",
    max_epochs=15,
    max_time=20,
    batch_size=256,
    learning_rate=5e-3,
    random_state=0,
    verbose=0,
).fit(train)
print(f"fitted in {model.training_['seconds']:.1f} s ({model.training_['epochs']} epochs)")

# 1. conditions: one output row per condition row; the given cells are copied exactly
seeds = pd.DataFrame({"sex": ["Female"] * 500, "education": ["Masters"] * 500})
women = model.sample(conditions=seeds)
print(
    f"conditions  sex=Female, education=Masters: {len(women)} rows, "
    f"all kept: {bool((women['sex'] == 'Female').all() and (women['education'] == 'Masters').all())}, "
    f"mean age {women['age'].mean():.1f}"
)

# 2. where: ranges (inclusive) and allowed value sets, exact without rejection loops
young = model.sample(n_samples=500, where={"age": (20, 29), "workclass": ["Private", "State-gov"]})
print(
    f"where       age in [20, 29]: min {young['age'].min()}, max {young['age'].max()}; "
    f"workclass values {sorted(young['workclass'].unique())}"
)

# 3. rebalance: a categorical column drawn at the shares you give, the rest follows from it
balanced = model.sample(n_samples=1000, rebalance={"income": {">50K": 0.5}})
print(
    f"rebalance   share of income >50K: training {(train['income'] == '>50K').mean():.2f}, "
    f"rebalanced sample {(balanced['income'] == '>50K').mean():.2f}"
)

# 4. impute: blank 20 % of the occupation and age cells of unseen rows, then fill them
rng = np.random.default_rng(0)
holes = test.copy()
blank_occ = rng.random(len(test)) < 0.2
blank_age = rng.random(len(test)) < 0.2
holes.loc[blank_occ, "occupation"] = np.nan
holes.loc[blank_age, "age"] = np.nan
filled = model.impute(holes)
observed = holes.notna()  # every missing cell is filled, the ones missing in the data too
observed_kept = bool((filled[observed] == holes[observed])[observed].all().all())
truth = test.loc[blank_occ, "occupation"]
hit = (filled.loc[blank_occ, "occupation"] == truth)[truth.notna()].mean()
mode_hit = (truth[truth.notna()] == train["occupation"].mode()[0]).mean()
age_err = (filled.loc[blank_age, "age"] - test.loc[blank_age, "age"]).abs().median()
print(
    f"impute      {int(blank_occ.sum() + blank_age.sum())} cells blanked, "
    f"missing cells left: {int(filled.isna().sum().sum())}, "
    f"observed cells kept: {observed_kept}"
)
print(
    f"impute      occupation drawn right {hit:.2f} (always-the-mode baseline {mode_hit:.2f}); "
    f"median |age error| {age_err:.1f} years"
)

# 5. predict_proba: P(income | the other columns) for unseen rows
proba = model.predict_proba(test.drop(columns="income"), target="income")
auc = roc_auc_score(test["income"] == ">50K", proba[">50K"])
print(f"predict_proba  columns {list(proba.columns)}, ROC AUC on unseen rows {auc:.3f}")
