"""`scaler study run|status`: run a study file as one worker, or print its trials."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from scaler.commands._interrupt import exit_code, signal_name

__all__ = ["register", "study_app"]

study_app = typer.Typer(no_args_is_help=True,
                        help="Optuna searches over scaling methods under a budget (studies/*.toml).")

_STORAGE_HELP = "Storage URL (any SQLAlchemy URL; postgresql://user@host/db for many workers). Default: the file's."


def _config(study_file: Path, storage: Optional[str], name: Optional[str], **overrides: Any) -> Any:
    """Load the study file and apply command-line overrides."""
    from scaler.study import load_study_config

    return load_study_config(study_file).with_overrides(storage=storage, name=name, **overrides)


def _fmt(value: Any, pattern: str, scale: float = 1.0) -> str:
    """A number formatted, or "" when missing."""
    return "" if value is None or value != value else format(value / scale, pattern)


def _trial_line(trial: Any) -> str:
    """One line for a finished trial."""
    from scaler.rules import factors_text
    from scaler.study import trial_status

    attrs = trial.user_attrs
    status, reason = trial_status(trial)
    best = attrs.get("best") or {}
    parts = [f"trial {trial.number:4d} {status:11s} {attrs.get('method', ''):10s} {factors_text(attrs.get('factors'))}",
             f"params {_fmt(attrs.get('params'), '.3f', 1e6)}M  GMACs {_fmt(attrs.get('macs'), '.3f', 1e9)}"]
    if best.get("miou") is not None:
        parts.append(f"mIoU {best['miou']:.4f}")
    if attrs.get("ms_per_step") is not None:
        parts.append(f"{attrs['ms_per_step']:.1f} ms/step (contended)")
    if reason:
        parts.append(f"({reason})")
    if trial.duration is not None:
        parts.append(f"[{trial.duration.total_seconds():.1f} s]")
    return "  ".join(parts)


def run(
    study_file: Path = typer.Argument(..., help="A study file, e.g. studies/quickstart.toml."),
    storage: Optional[str] = typer.Option(None, help=_STORAGE_HELP),
    n_trials: Optional[int] = typer.Option(None, help="Total trials of the study (all workers together)."),
    timeout: Optional[float] = typer.Option(None, help="Seconds after which THIS worker starts no new trial."),
    device: Optional[str] = typer.Option(None, help="Device of this worker, e.g. cuda:1 (one GPU per worker)."),
    name: Optional[str] = typer.Option(None, help="Study name (default: the file's)."),
    run_root: Optional[Path] = typer.Option(None, help="Root of the run folders: ROOT/NAME-KEY/trial_NNNN."),
    progress: bool = typer.Option(False, help="Show the trainer's progress bar."),
    wait: bool = typer.Option(True, help="With nothing left to start, wait for other workers' running trials "
                                         "(and retry one whose worker dies) before exiting."),
    verbose: bool = typer.Option(False, help="Show Optuna's own log lines."),
) -> None:
    """Run trials of a study as one worker; start it on many machines with one --storage to share the study.

    Before claiming a trial the worker trains the base network one step, so a configuration it cannot
    run (device, data, classes) exits 2 without using up a trial. Ctrl-C exits 130 and SIGTERM 143,
    after queuing the running trial for a retry that resumes it.
    """
    import optuna

    from scaler.study import run_study
    from scaler.signals import StopSignals
    from scaler.study._storage import safe_url

    config = _config(study_file, storage, name, n_trials=n_trials, timeout=timeout, device=device, run_root=run_root)
    # Each trial gets one line below; Optuna's own (a traceback per failed trial) only on request.
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.ERROR)
    typer.echo(f"study {config.name!r}: storage {safe_url(config.storage)}")
    # The process exits after a signal: later Ctrl-C/SIGTERM stay held off until it has (scaler.signals).
    with StopSignals(ignore_after=True):
        try:
            result = run_study(config, on_trial_end=lambda t: typer.echo(_trial_line(t)), progress=progress,
                               wait=wait)
        except KeyboardInterrupt as exc:  # scaler.study.Interrupted: its message says what was saved
            typer.echo(f"interrupted by {signal_name(exc)}: {getattr(exc, 'message', '') or 'nothing was running'}"
                       f"; run the same command to resume", err=True)
            raise typer.Exit(exit_code(exc)) from None
    typer.echo(f"stopped ({result.stopped}) after {len(result.trials)} trial(s) in {result.wall_s:.1f} s; "
               f"runs in {result.study_dir}; `scaler study status {study_file}` lists them")


def status(
    study_file: Path = typer.Argument(..., help="The study file the study was run from."),
    storage: Optional[str] = typer.Option(None, help=_STORAGE_HELP),
    name: Optional[str] = typer.Option(None, help="Study name (default: the file's)."),
    as_json: bool = typer.Option(False, "--json", help="Print the trial records as JSON."),
) -> None:
    """Print a study's trials: state, status, method, factors, params, GMACs, ms/step, mIoU."""
    from scaler.formatting import text_table
    from scaler.rules import factors_text
    from scaler.report import study_hypervolume
    from scaler.study import load_study, network_counts, reuse_counts, study_trials_frame
    from scaler.study._storage import safe_url

    config = _config(study_file, storage, name)
    frame = study_trials_frame(config.storage, config.name)
    hv = study_hypervolume(frame, load_study(config.storage, config.name).user_attrs)
    if as_json:
        typer.echo(json.dumps({"study": config.name, "trials": json.loads(frame.to_json(orient="records")),
                               "networks": reuse_counts(frame), "hypervolume": hv.as_dict()}, indent=2))
        return
    rows = [{
        "#": r.number, "state": r.state, "status": r.status, "method": r.method or "",
        "factors": factors_text(r.factors), "params (M)": _fmt(r.params, ".3f", 1e6), "GMACs": _fmt(r.macs, ".3f", 1e9),
        "input": "x".join(map(str, r.input_size)) if isinstance(r.input_size, list) else "",
        # measured during training, other load included: `scaler report` times the networks in isolation
        "ms/step (contended)": _fmt(r.ms_per_step, ".1f"), "mIoU": _fmt(r.miou, ".4f"),
        "epochs": _fmt(r.epochs_run, ".0f"),
        "note": _note(r),
    } for r in frame.itertuples()]
    networks = network_counts(frame) if len(frame) else {}
    reuse = reuse_counts(frame)
    typer.echo(f"study {config.name!r} ({safe_url(config.storage)}): {len(frame)} trial(s), "
               f"{sum(networks.values())} network(s) {json.dumps(networks)}, {reuse['distinct_networks']} distinct "
               f"trained, {reuse['reused_trials']} trial(s) reused a trained network; MACs per image "
               f"(GFLOPs = 2 x GMACs)")
    typer.echo(f"hypervolume {hv.final:.4f} of ({', '.join(hv.objectives)}), costs / reference; reference point: "
               f"{hv.reference_text()}")
    if rows:
        typer.echo(text_table(rows))
        done = frame[(frame.status == "completed") & frame.miou.notna()]
        if len(done):
            best = done.loc[done.miou.idxmax()]
            typer.echo(f"best: trial {best.number} ({best.method}) mIoU {best.miou:.4f}")


def _note(row: Any) -> str:
    """The status table's note: the reason, and the link between a retried trial and its retry."""
    import pandas as pd

    notes = [row.fail_reason] if isinstance(row.fail_reason, str) and row.fail_reason else []
    if pd.notna(row.retried_by):
        notes.append(f"retried as #{row.retried_by}: one network")
    if pd.notna(row.retried_from):
        notes.append(f"retry of #{row.retried_from}")
    if pd.notna(row.reused_from):
        notes.append(f"reused the network of #{row.reused_from}")
    return "; ".join(notes)


def register(app: typer.Typer) -> None:
    """Add the `study` command group."""
    study_app.command("run")(run)
    study_app.command("status")(status)
    app.add_typer(study_app, name="study")
