"""Write a synthetic leads CSV: in-file duplicates, invalid rows, custom fields and tags.

uv run python bench/make_leads.py 100000 /tmp/leads-100k.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl


def synthetic_leads(
    rows: int, *, duplicate_share: float = 0.15, invalid_share: float = 0.02, seed: int = 42
) -> pl.DataFrame:
    """`rows` leads; about duplicate_share repeat an earlier email in another letter case."""
    distinct = int(rows * (1 - duplicate_share))
    base = pl.DataFrame({"n": pl.int_range(distinct, eager=True)}).with_columns(
        pl.format("lead{}.{}@example{}.com", pl.col("n"), pl.col("n") % 97, pl.col("n") % 13).alias(
            "Email"
        ),
        pl.format("First{}", pl.col("n") % 1000).alias("First Name"),
        pl.format("Last{}", pl.col("n") % 5000).alias("Last Name"),
        pl.format("Company {}", pl.col("n") % 20000).alias("Company Name"),
        pl.lit("Head of Growth").alias("Job Title"),
        pl.format("+1 555 {}", pl.col("n") % 10_000_000).alias("Phone Number"),
        pl.format("tier-{}; region-{}", pl.col("n") % 3, pl.col("n") % 7).alias("Tags"),
        pl.format("{}", pl.col("n") % 50).alias("customFields.segment"),
    )
    repeats = base.sample(rows - distinct, with_replacement=True, seed=seed).with_columns(
        pl.concat_str(pl.lit("  "), pl.col("Email").str.to_uppercase()).alias("Email")
    )
    leads = pl.concat([base, repeats]).sample(fraction=1.0, shuffle=True, seed=seed)
    invalid = int(rows * invalid_share)
    leads = leads.with_row_index("i").with_columns(
        pl.when(pl.col("i") < invalid)
        .then(pl.col("Email").str.replace("@", "@@", literal=True))
        .otherwise(pl.col("Email"))
        .alias("Email")
    )
    return leads.sample(fraction=1.0, shuffle=True, seed=seed + 1).drop("i", "n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("rows", type=int)
    parser.add_argument("path", type=Path)
    args = parser.parse_args()
    synthetic_leads(args.rows).write_csv(args.path)
    print(f"wrote {args.rows:,} rows to {args.path}")


if __name__ == "__main__":
    main()
