"""Write a synthetic leads CSV: in-file duplicates, invalid rows, custom fields and tags.

uv run python bench/make_leads.py 100000 /tmp/leads-100k.csv

Distinct lead `n` has the email `lead{n}.{n % 97}@example{n % 13}.com`; every MATCH_EVERY-th
distinct email (n % 5 == 0) is the one a pre-seeded lead of the benchmark has (bench/seed.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Final

import polars as pl

MATCH_EVERY: Final = 5
DUPLICATE_SHARE: Final = 0.15
INVALID_SHARE: Final = 0.02


def lead_email(n: pl.Expr) -> pl.Expr:
    """The normalised email of distinct lead `n`."""
    return pl.format("lead{}.{}@example{}.com", n, n % 97, n % 13)


def distinct_count(rows: int, duplicate_share: float = DUPLICATE_SHARE) -> int:
    """How many distinct emails a file of `rows` rows has (before invalid rows are mangled)."""
    return rows - int(rows * duplicate_share)


def _pick(n: pl.Expr, values: list[str]) -> pl.Expr:
    """values[n % len(values)], vectorised."""
    index = n % len(values)
    expr = pl.when(index == 0).then(pl.lit(values[0]))
    for i, value in enumerate(values[1:], start=1):
        expr = expr.when(index == i).then(pl.lit(value))
    return expr.otherwise(pl.lit(values[-1]))


def _base_rows(distinct: int) -> pl.DataFrame:
    """One row per distinct lead, with file-style headers."""
    n = pl.col("n")
    titles = ["Head of Growth", "VP Sales", "Founder", "Marketing Manager", "CTO"]
    return pl.DataFrame({"n": pl.int_range(distinct, eager=True)}).with_columns(
        lead_email(n).alias("Email"),
        pl.format("First{}", n % 1000).alias("First Name"),
        pl.format("Last{}", n % 5000).alias("Last Name"),
        pl.format("Company {}", n % 20000).alias("Company Name"),
        _pick(n, titles).alias("Job Title"),
        pl.format("+1 555 {}", n % 10_000_000).alias("Phone Number"),
        pl.when(n % 3 == 0)
        .then(pl.format("https://company{}.example.com", n % 20000))
        .alias("Website"),
        pl.when(n % 10 == 0).then(_pick(n // 10, ["Active", "replied", "BOUNCED"])).alias("Status"),
        pl.when(n % 2 == 0)
        .then(pl.format("tier-{}; region-{}", n % 3, n % 7))
        .otherwise(pl.format('["tier-{}","region-{}"]', n % 3, n % 7))
        .alias("Tags"),
        pl.format("{}", n % 50).alias("customFields.segment"),
        _pick(n, ["free", "pro", "team", "enterprise"]).alias("customFields.plan"),
        pl.when(n % 4 != 0).then(pl.format("{}", n % 100)).alias("customFields.score"),
    )


def _respelled(email: pl.Expr, k: pl.Expr) -> pl.Expr:
    """The same email in another letter case, with surrounding whitespace."""
    cased = (
        pl.when(k % 3 == 0)
        .then(email.str.to_uppercase())
        .when(k % 3 == 1)
        .then(email.str.to_titlecase())
        .otherwise(email)
    )
    return (
        pl.when(k % 2 == 0)
        .then(pl.concat_str(pl.lit("  "), cased))
        .otherwise(pl.concat_str(cased, pl.lit(" \t")))
    )


def _invalid(email: pl.Expr, k: pl.Expr) -> pl.Expr:
    """A broken email: empty, doubled `@`, no top-level domain, or a space inside."""
    return (
        pl.when(k % 4 == 0)
        .then(pl.lit(None, pl.String))
        .when(k % 4 == 1)
        .then(email.str.replace("@", "@@", literal=True))
        .when(k % 4 == 2)
        .then(email.str.replace(r"\.com$", ""))
        .otherwise(email.str.replace("@", " @", literal=True))
    )


def synthetic_leads(
    rows: int,
    *,
    duplicate_share: float = DUPLICATE_SHARE,
    invalid_share: float = INVALID_SHARE,
    seed: int = 42,
) -> pl.DataFrame:
    """`rows` leads; duplicate_share repeat an earlier email respelled, invalid_share are broken."""
    distinct = distinct_count(rows, duplicate_share)
    base = _base_rows(distinct)
    k = pl.int_range(pl.len())
    repeats = base.sample(rows - distinct, with_replacement=True, seed=seed).with_columns(
        _respelled(pl.col("Email"), k).alias("Email")
    )
    leads = pl.concat([base, repeats]).sample(fraction=1.0, shuffle=True, seed=seed)
    invalid = int(rows * invalid_share)
    leads = leads.with_columns(
        pl.when(k < invalid)
        .then(_invalid(pl.col("Email"), k))
        .otherwise(pl.col("Email"))
        .alias("Email")
    )
    return leads.sample(fraction=1.0, shuffle=True, seed=seed + 1).drop("n")


def write_leads(rows: int, path: Path, *, seed: int = 42) -> int:
    """Write the synthetic file; return its size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    synthetic_leads(rows, seed=seed).write_csv(path)
    return path.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("rows", type=int)
    parser.add_argument("path", type=Path)
    args = parser.parse_args()
    write_leads(args.rows, args.path)
    print(f"wrote {args.rows:,} rows to {args.path}")


if __name__ == "__main__":
    main()
