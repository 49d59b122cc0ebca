"""`recollect run` and `recollect report`: experiment studies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from .common import app, err, out, user_errors

@app.command("run")
@user_errors
def run_cmd(
    study_file: Annotated[Path, typer.Argument(metavar="FILE.toml", help="The experiment file (see experiments/*.toml).",
                                               show_default=False)],
    out_dir: Annotated[Optional[Path], typer.Option("--out", "-o", help="Results directory (default results/<study name>); "
                                                    "rerunning into it resumes the study.")] = None,
    workers: Annotated[Optional[int], typer.Option(help="Parallel worker processes (default: one per CPU; 1 runs "
                                                   "in this process).", min=1)] = None,
    ray: Annotated[Optional[str], typer.Option(help="Run on Ray: local (start one here), auto (join the running "
                                               "cluster), or HOST:PORT. Needs the ray extra.")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override one entry, e.g. --set params.model="
                                                      "'\"digits\"' or --set grid.source='[\"class\"]' (repeatable).")] = None,
    plan: Annotated[bool, typer.Option("--plan", help="Only say how many points the study has and how many are done.")] = False,
    report: Annotated[bool, typer.Option("--report/--no-report", help="Write report.html and report.md at the end.")] = True,
) -> None:
    """Run a study: every point of its grid, in parallel, resumably (a rerun skips finished points)."""
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from ..experiments.runner import LOG, ResultLog, check_results_dir, hashed_points, run_study
    from ..experiments.study import load_study

    study = load_study(study_file, set_ or [])
    target = out_dir or Path("results") / study.name
    if plan:
        check_results_dir(target, study)
        records = ResultLog(target / LOG).read()
        done = sum(1 for p in hashed_points(study) if p["_hash"] in records and not records[p["_hash"]]["error"])
        out.print(f"{study.name}: {len(study.points)} points ({done} done in {target}); varying: "
                  f"{', '.join(study.varying()) or 'nothing'}", highlight=False)
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("ETA"), TimeRemainingColumn(), console=err) as progress:
        task = progress.add_task(study.name, total=None)

        def on_start(total: int, pending: int) -> None:
            progress.update(task, total=pending, description=f"{study.name} ({total - pending} of {total} already done)")

        start = time.perf_counter()
        summary = run_study(study, target, workers=workers, ray=ray, overrides=set_ or [],
                            progress=lambda n: progress.advance(task, n), on_start=on_start)
    elapsed = time.perf_counter() - start
    out.print(f"{study.name}: {summary.done} points run, {summary.skipped} already done, {len(summary.failures)} failed "
              f"({elapsed:.1f} s, {summary.backend}); results in {target / 'results.csv'}", highlight=False)
    if report:
        from ..experiments.report import write_report

        page, _ = write_report(target)
        out.print(f"report: {page}", highlight=False)
    if summary.failures:
        for r in summary.failures[:10]:
            params = ", ".join(f"{k}={v}" for k, v in r["params"].items() if k in study.varying())
            err.print(f"[red]failed[/] {escape(params or r['hash'])}: {escape(r['error'])}", highlight=False)
        if len(summary.failures) > 10:
            err.print(f"… and {len(summary.failures) - 10} more (column error of results.csv)")
        err.print(f"{len(summary.failures)} of {summary.total} points failed; rerun the same command to retry them")
        raise typer.Exit(1)


@app.command("report")
@user_errors
def report_cmd(
    results_dir: Annotated[Path, typer.Argument(metavar="RESULTS_DIR", help="A directory written by `recollect run`.",
                                                show_default=False)],
) -> None:
    """Write report.html (self-contained, figures embedded) and report.md for a study's results."""
    from ..experiments.report import write_report

    page, summary = write_report(results_dir)
    out.print(f"wrote {page} and {summary}", highlight=False)

