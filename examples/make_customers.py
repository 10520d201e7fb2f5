"""Regenerate examples/customers.csv: 400 made-up customers, a table as users have them.

    python examples/make_customers.py

Numeric columns (one with missing values), text columns, an id column automl drops, and two targets:
`churned` (yes / no: classification) and `spend` (an amount: regression).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

ROWS = 400


def customers(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 80, ROWS)
    tenure = rng.integers(0, 120, ROWS)  # months
    plan = rng.choice(["basic", "plus", "premium"], ROWS, p=[0.5, 0.3, 0.2])
    city = rng.choice(["lyon", "paris", "rome", "turin"], ROWS)
    calls = rng.poisson(2.0, ROWS).astype(float)
    calls[rng.random(ROWS) < 0.08] = np.nan  # missing: automl fills the column's median
    price = {"basic": 20.0, "plus": 35.0, "premium": 60.0}
    spend = np.array([price[p] for p in plan]) * (1 + tenure / 240) + rng.normal(0, 4, ROWS)
    risk = 1.2 - tenure / 40 + np.nan_to_num(calls, nan=2.0) * 0.5 + (plan == "basic") * 0.8 - age / 100
    churned = np.where(risk + rng.normal(0, 0.6, ROWS) > 0, "yes", "no")
    return pd.DataFrame({"customer_id": [f"c{i:05d}" for i in range(ROWS)], "age": age, "tenure": tenure,
                         "plan": plan, "city": city, "support_calls": calls, "spend": spend.round(2),
                         "churned": churned})


if __name__ == "__main__":
    customers().to_csv(Path(__file__).parent / "customers.csv", index=False)
