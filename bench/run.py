"""Benchmark the bulk lead import against its floor and the usual alternatives, in one run.

    uv run --group bench python bench/run.py                    # 1M rows, 1M seeded, 10M big run
    uv run --group bench python bench/run.py --quick            # 50k rows, 50k seeded, no 10M
    uv run --group bench python bench/run.py --rows 1000000 --seed-leads 1000000 \\
        --big-rows 10000000 --out bench/results.json

A synthetic file of N rows (15% in-file duplicates respelled, 2% invalid, custom fields, tags)
is imported into a workspace pre-seeded with M leads (10% soft-deleted; 20% of the input rows
match one). The seed is written once into the database `bench_seed`; every measurement gets its
own identical copy (CREATE DATABASE ... TEMPLATE bench_seed), and all copies are dropped at the
end. With DATABASE_URL unset, an embedded PostgreSQL in `--data-dir` (.cache/bench-data) is used.

(a) `leads import FILE --workspace bench --json` as a subprocess: wall time, engine time (the
    flow's own start-to-end from the report's `timings`), Prefect start-up (the difference).
(b) the floor: one COPY of the rows (a) wrote, pre-encoded as CSV, into a fresh copy.
(c) dlt `merge` of the same file (primary key email) into a fresh copy already holding the M
    leads in dlt's table.
(d) a row-by-row "create lead" loop (INSERT + COMMIT per row) over a sample, scaled to N.
(e) batches of 1000 leads through `leads_import.engine.import_leads`: p50/p99 latency; and
    the same batches posted to `POST /api/v1/leads/import` of a `leads api` server: p50/p99 of the
    server time (the `Server-Timing: app` header), with the engine's and the API's shares.
(f) peak RSS (the runner doing the import) and wall time for N rows and for `--big-rows` rows.
(g) a one-row `uv run leads import`: the first run in a fresh data directory, then warm runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from adhoc import measure_adhoc
from api_batches import build_batches, run_batches
from cli_import import MIB, CliRun, run_import
from cpu import cpu_span
from floor import copy_floor, written_rows_csv
from http_api import measure_http
from machine import machine_info
from make_leads import INVALID_SHARE, distinct_count, write_leads
from pg import TEMPLATE, Server, active_leads, server_url
from row_by_row import create_lead_loop, sample_rows
from seed import WORKSPACE, matched_count, seed_database
from table import print_figures, print_machine, print_ratios

REPO = Path(__file__).resolve().parent.parent
QUICK_ROWS = 50_000
STARTED = time.perf_counter()


@dataclass
class Config:
    rows: int
    seed_leads: int
    big_rows: int
    loop_sample: int
    batches: int
    batch_size: int
    warmup_batches: int
    dlt_format: str
    data_dir: Path
    out: Path
    quick: bool
    keep_files: bool
    http_port: int


def log(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, help="input rows N (default 1M; --quick 50k)")
    parser.add_argument("--seed-leads", type=int, help="pre-seeded leads M (default 1M; 50k)")
    parser.add_argument("--big-rows", type=int, default=10_000_000, help="rows of the big run")
    parser.add_argument("--loop-sample", type=int, help="rows of the row-by-row loop (10k; 2k)")
    parser.add_argument("--batches", type=int, help="API batches timed (200; --quick 50)")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--dlt-format", default="csv", choices=["csv", "insert_values"])
    parser.add_argument("--data-dir", type=Path, default=REPO / ".cache" / "bench-data")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results.json")
    parser.add_argument("--quick", action="store_true", help="small sizes, no big run (~1 min)")
    parser.add_argument("--keep-files", action="store_true", help="keep the generated files")
    parser.add_argument("--http-port", type=int, default=8765, help="port of the API under test")
    args = parser.parse_args(argv)
    size = QUICK_ROWS if args.quick else 1_000_000
    return Config(
        rows=args.rows or size,
        seed_leads=args.seed_leads or size,
        big_rows=0 if args.quick else args.big_rows,
        loop_sample=args.loop_sample or (2_000 if args.quick else 10_000),
        batches=args.batches or (50 if args.quick else 200),
        batch_size=args.batch_size,
        warmup_batches=3,
        dlt_format=args.dlt_format,
        data_dir=args.data_dir,
        out=args.out,
        quick=args.quick,
        keep_files=args.keep_files,
        http_port=args.http_port,
    )


# -- data set ---------------------------------------------------------------------------------


def make_file(cfg: Config, rows: int) -> tuple[Path, dict[str, Any]]:
    path = cfg.data_dir / "files" / f"leads-{rows}.csv"
    log(f"writing {rows:,} input rows to {path}")
    size = write_leads(rows, path)
    return path, {
        "rows": rows,
        "bytes": size,
        "distinctEmails": distinct_count(rows),
        "invalidRows": int(rows * INVALID_SHARE),
        "emailsOfSeededLeads": matched_count(cfg.rows, cfg.seed_leads),  # the seed is for N
    }


def seed_template(cfg: Config, server: Server) -> dict[str, Any]:
    log(f"seeding {cfg.seed_leads:,} leads into {TEMPLATE}")
    url = server.create_empty(TEMPLATE)
    return seed_database(url, cfg.rows, cfg.seed_leads)


# -- (a) and (f): the CLI import --------------------------------------------------------------


def cli_import(
    cfg: Config, server: Server, path: Path, database: str, active_before: int
) -> CliRun:
    """`leads import` into a fresh copy named `database`, as a user with the background
    services running: a one-row import into a copy of that name starts (or reuses) the runner
    for that database first, then the copy is made anew for the measured import."""
    probe = cfg.data_dir / "files" / "one-row.csv"
    probe.write_text("email\nprobe@example.com\n")
    url = server.copy_of_template(database)
    log(f"warming the runner for {database}")
    run_import(probe, WORKSPACE, url, cfg.data_dir / "logs", f"{database}-warm")
    server.drop(database)
    url = server.copy_of_template(database)
    log(f"leads import {path.name} into {database}")
    with cpu_span(server.data_directory()) as cpu:
        run = run_import(path, WORKSPACE, url, cfg.data_dir / "logs", database)
    run.cpu = cpu.as_json()
    check_counts(url, run.report, active_before)
    return run


def check_counts(url: str, report: dict[str, Any], active_before: int) -> None:
    """The outcomes add up to the rows, and the active leads grew by created + restored."""
    outcomes = sum(report[k] for k in ("created", "restored", "duplicates", "errors"))
    if outcomes != report["total"]:
        raise RuntimeError(f"outcomes add up to {outcomes}, not {report['total']}")
    expected = active_before + report["created"] + report["restored"]
    active = active_leads(url)
    if active != expected:
        raise RuntimeError(f"{active:,} active leads after the import, expected {expected:,}")


def engine_seconds(cfg: Config, server: Server, run: CliRun) -> tuple[float, float, str]:
    """Engine time, Prefect start-up, and how they were obtained."""
    if run.flow_s is not None:
        return run.flow_s, run.wall_s - run.flow_s, "report timings.flowMs"
    probe = cfg.data_dir / "files" / "one-row.csv"
    probe.write_text("email\nprobe@example.com\n")
    url = server.create_empty("bench_startup")
    startup = run_import(probe, "default", url, cfg.data_dir / "logs", "bench_startup").wall_s
    server.drop("bench_startup")
    return run.wall_s - startup, startup, "wall minus a 1-row import's wall"


def import_figures(cfg: Config, server: Server, run: CliRun) -> dict[str, Any]:
    engine, startup, method = engine_seconds(cfg, server, run)
    counts = {k: run.report[k] for k in ("created", "restored", "duplicates", "errors", "total")}
    return {
        "wallS": round(run.wall_s, 3),
        "engineS": round(engine, 3),
        "prefectStartupS": round(startup, 3),
        "engineTimeFrom": method,
        "timings": run.report.get("timings"),
        "loadMs": run.report.get("loadMs"),
        "counts": counts,
        "peakRssMiB": round(run.peaks.tree / MIB, 1),
        "peakRssImportProcessMiB": round(run.peaks.main / MIB, 1),
        "cpu": run.cpu,
    }


# -- (b) the floor ----------------------------------------------------------------------------


def measure_floor(server: Server, imported_url: str, workspace_id: int) -> dict[str, Any]:
    payload, rows = written_rows_csv(imported_url, workspace_id)
    url = server.copy_of_template("bench_b")
    log(f"floor: one COPY of {rows:,} rows")
    with cpu_span(server.data_directory()) as cpu:
        floor = copy_floor(url, payload, rows)
    server.drop("bench_b")
    return {
        "rows": floor.rows,
        "payloadBytes": floor.payload_bytes,
        "copyS": round(floor.copy_s, 3),
        "cpu": cpu.as_json(),
    }


# -- (c) dlt ----------------------------------------------------------------------------------


def measure_dlt(cfg: Config, server: Server, path: Path) -> dict[str, Any]:
    url = server.copy_of_template("bench_c")
    log(f"dlt merge ({cfg.dlt_format}) of {path.name}")
    work = cfg.data_dir / "dlt"
    env = {**os.environ, "DLT_DATA_DIR": str(work / "home"), "RUNTIME__DLTHUB_TELEMETRY": "false"}
    script = Path(__file__).with_name("dlt_merge.py")
    command = [sys.executable, str(script), "--url", url, "--file", str(path)]
    command += ["--work-dir", str(work), "--format", cfg.dlt_format]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    server.drop("bench_c")
    if done.returncode != 0:
        raise RuntimeError(f"dlt merge failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    # The process wall less the untimed seed load: interpreter and dlt start-up plus the merge.
    return {**figures, "wallS": round(wall - figures["seedS"], 3)}


# -- (d) row by row ---------------------------------------------------------------------------


def measure_loop(cfg: Config, server: Server, path: Path, workspace_id: int) -> dict[str, Any]:
    rows = sample_rows(path, cfg.loop_sample)
    url = server.copy_of_template("bench_d")
    log(f"row-by-row loop over {len(rows):,} rows")
    loop = create_lead_loop(url, workspace_id, rows)
    server.drop("bench_d")
    scaled = loop.seconds * cfg.rows / loop.rows
    return {**asdict(loop), "seconds": round(loop.seconds, 3), "scaledS": round(scaled, 1)}


# -- (e) API batches --------------------------------------------------------------------------


def measure_api(cfg: Config, server: Server, seed: dict[str, Any]) -> dict[str, Any]:
    total = cfg.batches + cfg.warmup_batches
    batches = build_batches(total, cfg.batch_size, seed["leads"], seed["matchingInput"])
    url = server.copy_of_template("bench_e")
    log(f"{cfg.batches} API batches of {cfg.batch_size} (+{cfg.warmup_batches} warm-up)")
    runs = run_batches(url, batches, cfg.warmup_batches)
    server.drop("bench_e")
    latencies = runs.latencies_ms
    return {
        "batches": len(latencies),
        "batchSize": cfg.batch_size,
        "p50Ms": round(runs.percentile(50), 1),
        "p99Ms": round(runs.percentile(99), 1),
        "loadP50Ms": round(runs.percentile(50, runs.load_ms), 1),
        "loadP99Ms": round(runs.percentile(99, runs.load_ms), 1),
        "meanMs": round(sum(latencies) / len(latencies), 1),
        "maxMs": round(max(latencies), 1),
        "counts": runs.totals,
    }


def measure_http_api(cfg: Config, server: Server, seed: dict[str, Any]) -> dict[str, Any]:
    total = cfg.batches + cfg.warmup_batches
    batches = build_batches(total, cfg.batch_size, seed["leads"], seed["matchingInput"])
    url = server.copy_of_template("bench_e_http")
    try:
        return measure_http(url, batches, cfg.warmup_batches, cfg.http_port, cfg.data_dir)
    finally:
        server.drop("bench_e_http")


# -- (f) scaling ------------------------------------------------------------------------------


def scale_figures(run: CliRun, engine_s: float) -> dict[str, Any]:
    timings = run.report.get("timings") or {}
    return {
        "rows": run.report["total"],
        "wallS": round(run.wall_s, 3),
        "engineS": round(engine_s, 3),
        "timings": timings,
        "peakRssMiB": round(run.peaks.tree / MIB, 1),
        "peakRssImportProcessMiB": round(run.peaks.main / MIB, 1),
    }


def measure_big(
    cfg: Config, server: Server, seed: dict[str, Any], startup_s: float
) -> dict[str, Any]:
    path, dataset = make_file(cfg, cfg.big_rows)
    run = cli_import(cfg, server, path, "bench_a", seed["leads"] - seed["softDeleted"])
    server.drop("bench_a")
    if not cfg.keep_files:
        path.unlink()
    engine = run.flow_s if run.flow_s is not None else run.wall_s - startup_s
    return {**scale_figures(run, engine), "dataset": dataset, "counts": _counts(run)}


def _counts(run: CliRun) -> dict[str, int]:
    return {k: run.report[k] for k in ("created", "restored", "duplicates", "errors")}


# -- ratios and output ------------------------------------------------------------------------


def ratio(name: str, value: float, target: str, met: bool) -> dict[str, Any]:
    return {"name": name, "value": round(value, 3), "target": target, "met": bool(met)}


def ratios(m: dict[str, Any]) -> list[dict[str, Any]]:
    a = m["a_import"]
    engine, wall = a["engineS"], a["wallS"]
    floor, dlt, loop = m["b_floor"]["copyS"], m["c_dlt"]["mergeS"], m["d_row_by_row"]["scaledS"]
    api = m["e_api_batches"]
    http = m["e_http_import"]["app"]["p50Ms"]
    dlt_wall = m["c_dlt"]["wallS"]
    out = [
        ratio("(a) engine / (b) floor COPY", engine / floor, "<= 1.3", engine / floor <= 1.3),
        ratio("(a) wall / (b) floor COPY", wall / floor, "(info)", True),
        *cpu_bound_ratio(a.get("cpu"), floor),
        ratio("(c) dlt merge / (a) engine", dlt / engine, "(info)", True),
        ratio("(c) dlt wall / (a) wall", dlt_wall / wall, ">= 2", dlt_wall / wall >= 2),
        ratio("(d) row-by-row / (a) engine", loop / engine, ">= 30", loop / engine >= 30),
        ratio("(d) row-by-row / (a) wall", loop / wall, "(info)", True),
        ratio("(e) p50 latency ms", api["p50Ms"], "<= 30", api["p50Ms"] <= 30),
        ratio("(e) p99 latency ms", api["p99Ms"], "<= 80", api["p99Ms"] <= 80),
        ratio("(e) HTTP import p50 server ms", http, "<= 35", http <= 35),
        *adhoc_ratios(m["g_adhoc"]),
    ]
    return out + big_ratios(m["f_scale"])


def import_cpu_s(cpu: dict[str, Any]) -> float:
    """The CPU seconds an import used: the runner's, PostgreSQL's and the Prefect server's."""
    return cpu["runnerS"] + cpu["postgresS"] + cpu["prefectServerS"]


def cpu_bound_ratio(cpu: dict[str, Any] | None, floor: float) -> list[dict[str, Any]]:
    """How long the import's CPU time takes on the machine's cores at best, over the floor: the
    engine / floor ratio that no overlap of our work with the server's can beat."""
    if not cpu:
        return []
    bound = import_cpu_s(cpu) / cpu["cores"]
    return [ratio("(a) its CPU time / cores / (b) floor", bound / floor, "(info)", True)]


def adhoc_ratios(g: dict[str, Any]) -> list[dict[str, Any]]:
    warm, first = g["warmMedianS"], g["firstS"]
    return [
        ratio("(g) one-row import, warm, wall s (median)", warm, "<= 2.0", warm <= 2.0),
        ratio("(g) one-row import, first run, wall s", first, "<= 10", first <= 10),
    ]


def big_ratios(scale: dict[str, Any]) -> list[dict[str, Any]]:
    big, base = scale.get("big"), scale["base"]
    if big is None:
        return []
    rows = big["rows"] / base["rows"]
    limit = 1.1 * rows
    time_ratio = big["engineS"] / base["engineS"]
    wall_ratio = big["wallS"] / base["wallS"]
    return [
        ratio("(f) big peak RSS MiB", big["peakRssMiB"], "<= 2048", big["peakRssMiB"] <= 2048),
        ratio(
            f"(f) big / base engine time ({rows:.0f}x rows)",
            time_ratio,
            f"<= {limit:.1f}",
            time_ratio <= limit,
        ),
        ratio(f"(f) big / base wall time ({rows:.0f}x rows)", wall_ratio, "(info)", True),
    ]


def figures(m: dict[str, Any]) -> list[tuple[str, str]]:
    a, b, c, d, e = (
        m[k] for k in ("a_import", "b_floor", "c_dlt", "d_row_by_row", "e_api_batches")
    )
    n = a["counts"]["total"]
    out = [
        (f"(a) leads import, {n:,} rows: wall", f"{a['wallS']:.2f} s"),
        ("(a)   engine (flow start to end)", f"{a['engineS']:.2f} s"),
        ("(a)   Prefect start-up (wall - engine)", f"{a['prefectStartupS']:.2f} s"),
        ("(a)   stages", _task_times(a["timings"])),
        ("(a)   database part (report loadMs)", f"{(a['loadMs'] or 0) / 1000:.2f} s"),
        ("(a)   created / restored / duplicates / errors", _outcomes(a["counts"])),
        *cpu_rows("(a)", a.get("cpu")),
        (f"(b) floor: one COPY of {b['rows']:,} rows", f"{b['copyS']:.2f} s"),
        *cpu_rows("(b)", b.get("cpu")),
        (f"(c) dlt merge ({c['loaderFileFormat']}), pipeline.run", f"{c['mergeS']:.2f} s"),
        ("(c)   dlt process wall (less the untimed seed load)", f"{c['wallS']:.2f} s"),
        (f"(d) row-by-row, {d['rows']:,} rows", f"{d['seconds']:.2f} s"),
        (f"(d)   scaled to {n:,} rows", f"{d['scaledS']:.1f} s"),
        (f"(e) {e['batches']} API batches of {e['batchSize']}: p50 / p99", _p50_p99(e)),
        ("(e)   database part (report loadMs): p50 / p99", _p50_p99(e, "load")),
        *http_rows(m["e_http_import"]),
    ]
    g = m["g_adhoc"]
    out += [
        ("(g) one-row `uv run leads import`, first run (fresh data dir)", f"{g['firstS']:.2f} s"),
        ("(g)   warm: median / max of 5", f"{g['warmMedianS']:.2f} / {g['warmMaxS']:.2f} s"),
    ]
    return out + scale_rows(m["f_scale"])


def cpu_rows(label: str, cpu: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not cpu:
        return []
    parts = f"{cpu['runnerS']:.2f} / {cpu['postgresS']:.2f} / {cpu['prefectServerS']:.2f} s"
    capacity = cpu["cores"] * cpu["wallS"]
    busy = f"{cpu['machineBusyS']:.2f} of {capacity:.2f} s ({cpu['busyShare']:.0%})"
    return [
        (f"{label}   CPU: runner / PostgreSQL / Prefect server", parts),
        (f"{label}   CPU: whole machine, busy of cores x wall", busy),
    ]


def scale_rows(scale: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for run in (scale["base"], scale.get("big")):
        if run is not None:
            label = f"(f) {run['rows']:,} rows: wall / engine / peak RSS"
            value = f"{run['wallS']:.1f} s / {run['engineS']:.1f} s / {run['peakRssMiB']:.0f} MiB"
            out.append((label, value))
    return out


def http_rows(h: dict[str, Any]) -> list[tuple[str, str]]:
    def p50_p99(name: str) -> str:
        return f"{h[name]['p50Ms']:.1f} / {h[name]['p99Ms']:.1f} ms"

    return [
        (f"(e) HTTP: {h['requests']} imports of {h['batchSize']}, server time p50 / p99",
         p50_p99("app")),
        ("(e)   of which the engine (import_leads)", p50_p99("engine")),
        ("(e)   of which the API (auth, rate limit, parse)", p50_p99("appMinusEngine")),
        ("(e)   client wall time (loopback)", p50_p99("client")),
    ]  # fmt: skip


def _p50_p99(e: dict[str, Any], prefix: str = "") -> str:
    key = prefix + ("P" if prefix else "p")
    return f"{e[key + '50Ms']:.1f} / {e[key + '99Ms']:.1f} ms"


def _task_times(timings: dict[str, float] | None) -> str:
    if not timings:
        return "n/a (no timings in the report)"
    stages = {k: v for k, v in timings.items() if k != "flowMs"}
    if not stages:
        return "one streaming task (read, prepare and write overlap)"
    return " / ".join(f"{k.removesuffix('Ms')} {v / 1000:.2f}" for k, v in stages.items()) + " s"


def _outcomes(counts: dict[str, int]) -> str:
    return " / ".join(f"{counts[k]:,}" for k in ("created", "restored", "duplicates", "errors"))


def write_results(cfg: Config, results: dict[str, Any]) -> None:
    cfg.out.parent.mkdir(parents=True, exist_ok=True)
    cfg.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    log(f"results written to {cfg.out}")


# -- the run ----------------------------------------------------------------------------------


def measure(cfg: Config, server: Server) -> dict[str, Any]:
    path, dataset = make_file(cfg, cfg.rows)
    seed = seed_template(cfg, server)
    active_before = seed["leads"] - seed["softDeleted"]
    run = cli_import(cfg, server, path, "bench_a", active_before)
    a = import_figures(cfg, server, run)
    m: dict[str, Any] = {"dataset": dataset, "seed": seed, "a_import": a}
    log("(g) one-row imports in a fresh data directory")
    m["g_adhoc"] = measure_adhoc(cfg.data_dir)
    m["b_floor"] = measure_floor(server, server.db_url("bench_a"), seed["workspaceId"])
    server.drop("bench_a")
    written = a["counts"]["created"] + a["counts"]["restored"]
    if m["b_floor"]["rows"] != written:
        raise RuntimeError(f"read back {m['b_floor']['rows']:,} rows, (a) wrote {written:,}")
    m["c_dlt"] = measure_dlt(cfg, server, path)
    m["d_row_by_row"] = measure_loop(cfg, server, path, seed["workspaceId"])
    m["e_api_batches"] = measure_api(cfg, server, seed)
    m["e_http_import"] = measure_http_api(cfg, server, seed)
    if not cfg.keep_files:
        path.unlink()
    base = scale_figures(run, a["engineS"])
    big = measure_big(cfg, server, seed, a["prefectStartupS"]) if cfg.big_rows else None
    m["f_scale"] = {"base": base, "big": big}
    return m


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    server = Server(server_url(cfg.data_dir))
    machine = machine_info(server.version())
    print_machine(machine)
    try:
        m = measure(cfg, server)
    finally:
        log("dropping the benchmark databases, stopping the background services")
        server.drop_all()
        stop = [str(REPO / ".venv" / "bin" / "leads"), "stop"]
        subprocess.run(stop, env={**os.environ, "LEADS_DATA_DIR": str(cfg.data_dir)}, check=False)
    results = {"config": asdict(cfg), "machine": machine, **m, "ratios": ratios(m)}
    print_figures(figures(m))
    print_ratios(results["ratios"])
    write_results(cfg, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
