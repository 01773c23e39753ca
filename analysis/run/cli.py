"""Command line: ``python -m analysis {synth,validate,run,audit,bundle,sweep,params,map} …``.

Errors meant for users (bad data, parameters, files, failed notebooks) are printed as plain
messages with exit status 2 (input) or 1 (run failure); never a bare traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from analysis.core.exceptions import AnalysisError, RunError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="Endometrial immune profiling and immunotherapy in IVF: synthetic cohorts, "
        "validation and the notebook suite.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    synth = sub.add_parser(
        "synth",
        help="write a synthetic cohort with its declared truth",
        description="Simulate a cohort that obeys the data contract and write "
        "patients.csv, transfers.csv and truth.json into DIR. The same "
        "seed gives the same bytes.",
    )
    synth.add_argument("--patients", type=int, default=1500, metavar="N", help="number of patients (default 1500)")
    synth.add_argument("--seed", type=int, default=20261124, metavar="S", help="random seed (default 20261124)")
    synth.add_argument("--out", required=True, metavar="DIR", help="folder to write into")
    synth.add_argument(
        "--preset",
        choices=("default", "realistic"),
        default="default",
        help="default: the shipped generator; realistic: a clinic with arm switching after "
        "failures, arm-dependent delays, frailty, a calendar trend, informative drop-out, a "
        "data cut, returns for siblings and missing markers (analysis.data.clinic)",
    )
    synth.add_argument("--null", action="store_true", help="realistic preset only: no arm has any effect on live birth")

    validate = sub.add_parser(
        "validate",
        help="check a cohort folder against the data contract",
        description="Read a cohort folder and list every contract violation "
        "(errors) and finding (warnings). Exit status 2 on errors.",
    )
    validate.add_argument("--data", default="data/synthetic", metavar="DIR|URL", help="cohort folder or database URL")
    validate.add_argument(
        "--config", default=None, metavar="study.yaml", help="study config (its data_source section names the tables)"
    )

    run = sub.add_parser(
        "run",
        help="validate the data and execute the notebooks into a run folder",
        description="Validate the cohort, then execute every notebook through "
        "papermill into one run folder (executed notebooks, figures/, "
        "tables/, manifest.json).",
    )
    run.add_argument(
        "--data",
        default="data/synthetic",
        metavar="DIR|URL",
        help="cohort folder (default data/synthetic), or a SQLAlchemy database URL such as "
        "postgresql+psycopg://user@host/clinic (tables or queries in the config's data_source section; "
        "default tables patients and transfers)",
    )
    run.add_argument("--config", default=None, metavar="study.yaml", help="study config overriding the defaults")
    run.add_argument(
        "--out", default="reports/latest", metavar="reports/NAME", help="run folder (default reports/latest)"
    )
    run.add_argument(
        "-p",
        "--parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one parameter (repeatable; dotted keys reach into mappings)",
    )
    run.add_argument(
        "--notebooks",
        default=None,
        metavar="05,06",
        help="run only these notebooks (numbers or names, comma-separated); with --out naming a finished run, "
        "the others are reused when the inputs and the parameters they depend on are unchanged, and run "
        "again otherwise (the manifest says which)",
    )
    run.add_argument("--force", action="store_true", help="replace an existing run folder")
    run.add_argument("--kernel", default="python3", help="Jupyter kernel (default python3: this interpreter)")
    run.add_argument("--quiet", action="store_true", help="print no progress")
    run.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="notebooks executed at the same time (default 1); the outputs are the same bytes",
    )
    run.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="Dask distributed scheduler (tcp://host:8786): the notebooks become tasks on its workers, "
        "which must see the repository, the cohort and --out at the same paths; same bytes as a local run",
    )
    run.add_argument(
        "--cold-kernels",
        action="store_true",
        help="start every notebook's kernel the ordinary way rather than as a fork of one process that has "
        "imported the package (about 3 s more per notebook; the outputs are the same bytes)",
    )
    run.add_argument(
        "--keep-interim",
        action="store_true",
        help="keep interim/ (the cached derived cohort, patient-level data) in the finished run folder; "
        "by default it is removed when the run succeeds",
    )

    audit = sub.add_parser(
        "audit",
        help="try every known route to recover a small count from a run folder",
        description="Read RUN_DIR as an intruder would (tables, captions, SVG figures and their "
        "numbers at risk, executed notebooks, report.html) and list every count below the "
        "threshold that can be read or recomputed, with the route. Exit status 1 when "
        "something is recovered, 0 when nothing is.",
    )
    audit.add_argument("run_dir", metavar="RUN_DIR", help="a run folder")
    audit.add_argument(
        "--min-cell-count",
        type=int,
        default=None,
        metavar="K",
        help="threshold to audit against (default: the run's own min_cell_count)",
    )
    audit.add_argument("--out", default=None, metavar="FILE.csv", help="also write the findings as CSV")

    bundle = sub.add_parser(
        "bundle",
        help="pack a finished run into one zip for submission",
        description="Write one zip from RUN_DIR: the main figures as PDF and TIFF (at --dpi), the "
        "supplementary figures and tables in supplement.docx with captions, the main publication "
        "tables, the reporting checklists, the drafted Results with the keys of its numbers, the "
        "report and the manifests with SHA-256 checksums. Nothing patient-level (interim/) is packed. "
        "Refused when a number of the Results draft no longer matches its table.",
    )
    bundle.add_argument("run_dir", metavar="RUN_DIR", help="a finished run folder")
    bundle.add_argument(
        "--out", default=None, metavar="FILE.zip", help="zip to write (default RUN_DIR/submission_bundle.zip)"
    )
    bundle.add_argument(
        "--dpi",
        type=int,
        default=300,
        metavar="N",
        help="TIFF resolution (default 300, the usual minimum for colour figures; journals asking 600 or more for "
        "line art need the run's figures saved that fine: -p figure_dpi=600)",
    )

    sweep = sub.add_parser(
        "sweep",
        help="run a grid of parameter sets into one sweep folder",
        description="Run the suite once per parameter set of SWEEP.yaml (data x sets x grid; "
        "analysis.run.sweep documents the file) into OUT/runs/<run>, skipping runs "
        "that finished earlier, then write OUT/estimates.csv (all runs, parameter "
        "values as columns) and OUT/sweep_status.csv. A failing run never stops "
        "the others.",
    )
    sweep.add_argument("sweep_file", metavar="SWEEP.yaml", help="sweep file")
    sweep.add_argument("--out", required=True, metavar="DIR", help="sweep folder")
    sweep.add_argument("--jobs", type=int, default=1, metavar="N", help="local worker processes (default 1)")
    sweep.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="Dask distributed scheduler (tcp://host:8786); runs become tasks on the cluster",
    )
    sweep.add_argument("--quiet", action="store_true", help="print no progress")
    sub.add_parser(
        "params",
        help="list the analysis plan's parameters with types, ranges, defaults and meanings",
        description="Print every parameter of the analysis plan (analysis.run.config.AnalysisPlan): "
        "its type, allowed range, default and meaning, as papermill --help-notebook does for one notebook.",
    )
    mapper = sub.add_parser(
        "map",
        help="map a clinic export onto the data contract with a mapping spec",
        description="Read EXPORT (CSV, Excel, Parquet, SAS, Stata, SPSS or a REDCap project), apply "
        "the mapping spec (analysis.data.mapping documents it: renames, recodes, unit "
        "conversions, date formats, agents, wide layouts) and write the contract tables "
        "with mapping_report.md and mapping_report.json into COHORT. No row is dropped; "
        "every value that matched no rule is listed with counts and example ids. Exit "
        "status 2 when the mapped cohort breaks the contract.",
    )
    mapper.add_argument("--spec", required=True, metavar="mapping.yaml", help="mapping spec")
    mapper.add_argument("--in", dest="export", required=True, metavar="EXPORT", help="export file or folder")
    mapper.add_argument("--out", required=True, metavar="COHORT", help="cohort folder to write")
    return parser


# The subcommands import their modules when called, so `--help` and a bad argument answer
# at once instead of after pandas, statsmodels and papermill load (about 2 s).


def _synth(args) -> int:
    from analysis.data.clinic import simulate_clinic  # lazy: see the note above _synth
    from analysis.data.synthetic import simulate_cohort, write_cohort  # lazy: see the note above _synth

    if args.patients < 1:
        raise AnalysisError("--patients must be at least 1")
    if args.null and args.preset != "realistic":
        raise AnalysisError("--null needs --preset realistic (the default generator has fixed effects)")
    if args.preset == "realistic":
        cohort = simulate_clinic(args.patients, seed=args.seed, null=args.null)
    else:
        cohort = simulate_cohort(args.patients, seed=args.seed)
    paths = write_cohort(cohort, args.out)
    print(
        f"wrote {len(cohort.patients)} patients and {len(cohort.transfers)} transfers: "
        + ", ".join(str(p) for p in paths)
    )
    return 0


def _validate(args) -> int:
    from analysis.core.exceptions import format_problems  # lazy: see the note above _synth
    from analysis.data.loading import read_cohort_tables  # lazy: see the note above _synth
    from analysis.data.validation import validate_cohort  # lazy: see the note above _synth
    from analysis.run.config import cohort_folder  # lazy: see the note above _synth

    raw = read_cohort_tables(cohort_folder(args.data, args.config))
    checked = validate_cohort(raw["patients"], raw["transfers"], raw.get("births"), raw.get("adverse_events"))
    if len(checked.problems):
        print(format_problems(checked.problems, header=f"Cohort {args.data}"))
    else:
        print(f"Cohort {args.data}: no problems")
    return 2 if len(checked.errors) else 0


def _run(args) -> int:
    from analysis.run.config import AnalysisPlan, check_plan, resolve_config  # lazy: see the note above _synth

    # The plan's types, ranges and names first, before the runner and its notebook stack load:
    # a bad parameter is answered in about a second (the runner checks again, with the cohort).
    check_plan(resolve_config(set(AnalysisPlan.model_fields), args.config, args.parameter))
    from analysis.run.runner import run_suite, select_notebooks  # lazy: see the note above _synth

    run_suite(
        args.data,
        args.out,
        notebooks=select_notebooks(args.notebooks) if args.notebooks else None,
        config_path=args.config,
        overrides=args.parameter,
        force=args.force,
        kernel_name=args.kernel,
        quiet=args.quiet,
        jobs=args.jobs,
        keep_interim=args.keep_interim,
        scheduler=args.scheduler,
        warm_kernels=not args.cold_kernels,
    )
    return 0


def _audit(args) -> int:
    from analysis.output.audit import audit_run, verdict_statement  # lazy: see the note above _synth

    findings = audit_run(args.run_dir, min_cell_count=args.min_cell_count)
    k = args.min_cell_count
    if k is None:
        k = int(json.loads((Path(args.run_dir) / "manifest.json").read_text())["parameters"]["min_cell_count"])
    if args.out:
        findings.to_csv(args.out, index=False)
    for row in findings.itertuples():
        print(f"{row.source}: {row.location}: {row.route}: {row.value} {row.detail}".rstrip())
    print(verdict_statement(findings, k))
    return 1 if len(findings) else 0


def _bundle(args) -> int:
    from analysis.output.bundle import write_bundle  # lazy: see the note above _synth

    path = write_bundle(args.run_dir, args.out, dpi=args.dpi)
    print(f"wrote {path}")
    return 0


def _sweep(args) -> int:
    from analysis.run.sweep import run_sweep  # lazy: see the note above _synth

    status = run_sweep(args.sweep_file, args.out, jobs=args.jobs, scheduler=args.scheduler, quiet=args.quiet)
    failed = status[status["status"] != "ok"]
    for row in failed.itertuples():
        print(f"run {row.run} failed: {row.message}", file=sys.stderr)
    print(f"{len(status) - len(failed)} of {len(status)} runs finished; see {args.out}/sweep_status.csv")
    return 1 if len(failed) else 0


def _params(args) -> int:
    from analysis.run.config import format_plan_parameters  # lazy: see the note above _synth

    print(format_plan_parameters())
    return 0


def _map(args) -> int:
    from analysis.core.exceptions import format_problems  # lazy: see the note above _synth
    from analysis.data.loading import read_cohort_tables  # lazy: see the note above _synth
    from analysis.data.mapping import map_export_files  # lazy: see the note above _synth
    from analysis.data.validation import validate_cohort  # lazy: see the note above _synth

    mapped = map_export_files(args.spec, args.export, args.out)
    for name, table in mapped.report["tables"].items():
        print(f"{name}: {table['rows_in']} export rows -> {table['rows_out']} rows")
    unmatched = mapped.report["unmatched"]
    print(
        f"{len(unmatched)} value(s) matched no rule"
        + (" (see mapping_report.md)" if unmatched else "")
        + f"; wrote {args.out}/patients.csv, transfers.csv, mapping_report.md, mapping_report.json"
    )
    raw = read_cohort_tables(args.out)
    checked = validate_cohort(raw["patients"], raw["transfers"])
    if len(checked.problems):
        print(format_problems(checked.problems, header=f"Mapped cohort {args.out}"))
    return 2 if len(checked.errors) else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    handlers = {
        "synth": _synth,
        "validate": _validate,
        "run": _run,
        "audit": _audit,
        "bundle": _bundle,
        "sweep": _sweep,
        "params": _params,
        "map": _map,
    }
    try:
        return handlers[args.command](args)
    except RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except AnalysisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
