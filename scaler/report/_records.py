"""Collect results into ONE tidy DataFrame: one row per run (a study trial, or a run dir), every status kept.

Sources: an Optuna study (any RDB storage URL: SQLite, PostgreSQL, ...), a study TOML (through
`scaler.study.load_study_config`), trainer run dirs (`scaler.train.load_run`), or a `reproduce`
output folder (its `reproduce.json` manifest names each network and its scaling method).
Accuracies are fractions in [0, 1] here, as the trainer writes them; tables and plots show percent.
A row's `task` (scaler.train.task_of its spec) says which it has: segmentation runs pa/mpa/miou,
classification runs accuracy/macro_recall/macro_f1 (the other columns NaN).
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from scaler.complexity import complexity
from scaler.errors import ScalerError
from scaler.spec import NetSpec
from scaler.study import load_study_config, trial_status
from scaler.train import SEGMENTATION, load_run, task_of
from scaler.vocabulary import EVALUATIONS, METHOD_LABELS, METHODS, RUN_TO_RECORD_STATUS, choices_text

__all__ = [
    "COLUMNS", "METHOD_ORDER", "PAPER_NAMES", "MANIFEST", "SWEEP_MANIFEST", "collect", "records_from_study",
    "records_from_runs", "records_from_reproduce",
]

#: Methods in the order tables and legends list them ("unknown": a run dir that does not say which).
METHOD_ORDER = METHODS + ("unknown",)
#: Network labels: the paper's name for the network each method makes; a run dir that does not say is a "run".
PAPER_NAMES = {**METHOD_LABELS, "unknown": "run"}
#: The file a reproduce folder keeps its networks, factors and runs in.
MANIFEST = "reproduce.json"
#: The same for a sweep folder (scaler.report._sweep).
SWEEP_MANIFEST = "sweep.json"

#: The tidy record's columns. gmacs/gflops/params_m are the same counts in display units (FLOPs = 2 x MACs).
COLUMNS = (
    "network", "method", "seed", "status", "fail_reason", "task", "pa", "mpa", "miou", "accuracy", "macro_recall",
    "macro_f1", "best_epoch", "epochs_run",
    "params", "macs", "flops", "activations", "params_m", "gmacs", "gflops", "ms_per_step", "ms_p10",
    "ms_p90", "input_size", "factors", "spec", "history", "source", "trial", "run_dir",
)
#: The accuracies a row can hold: segmentation's, then classification's (scaler.train's record keys).
SCORES = ("pa", "mpa", "miou", "accuracy", "macro_recall", "macro_f1")
_NUMERIC = (*SCORES, "best_epoch", "epochs_run", "params", "macs", "flops", "activations",
            "ms_per_step", "ms_p10", "ms_p90")
_RUN_NAME = re.compile(r"^(?P<network>.+)-seed(?P<seed>\d+)$")


# -- shared row helpers -------------------------------------------------------------------------

def _number(value: Any) -> float:
    """A finite float, or NaN for None / non-numbers / inf."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def _fill_cost(row: dict[str, Any]) -> None:
    """Fill params/MACs/FLOPs/activations from the spec where the source did not record them."""
    if row.get("spec") and any(math.isnan(_number(row.get(k))) for k in ("params", "macs", "activations")):
        try:
            cost = complexity(NetSpec.from_dict(row["spec"]))
        except (ValueError, TypeError, KeyError):
            return  # a spec this version cannot read: the costs stay unknown (NaN), the row stays
        for key in ("params", "macs", "flops", "activations"):
            if math.isnan(_number(row.get(key))):
                row[key] = getattr(cost, key)
        if not row.get("input_size"):
            row["input_size"] = list(cost.input_size)
    if math.isnan(_number(row.get("flops"))) and not math.isnan(_number(row.get("macs"))):
        row["flops"] = 2 * _number(row["macs"])


def _task(spec: Any) -> str:
    """The task of a row's spec (segmentation when the spec is missing or unreadable)."""
    try:
        return task_of(NetSpec.from_dict(spec)).name if isinstance(spec, dict) and spec else SEGMENTATION.name
    except (ValueError, TypeError, KeyError):
        return SEGMENTATION.name


def check_evaluation(evaluation: str) -> str:
    """One of EVALUATIONS, else a one-line ScalerError naming the valid ones."""
    if evaluation not in EVALUATIONS:
        raise ScalerError(f"unknown evaluation {evaluation!r}; valid: {choices_text(list(EVALUATIONS))}")
    return evaluation


def _scores(best: dict[str, Any], history: list[dict[str, Any]], test: Any, evaluation: str) -> dict[str, Any]:
    """The accuracies a row reports under `evaluation`: SCORES and epoch (empty when the run has none)."""
    if evaluation == "final":
        final = history[-1] if history and isinstance(history[-1], dict) else {}
        return {k: final.get(k) for k in (*SCORES, "epoch")} if final else {}
    if evaluation == "test":
        return dict(test) if isinstance(test, dict) else {}
    return best


def _finish(rows: list[dict[str, Any]], source: str, evaluation: str = "best") -> pd.DataFrame:
    """Rows -> the tidy frame: cost filled, units added, networks labelled, columns in order."""
    for row in rows:
        _fill_cost(row)
        row["task"] = _task(row.get("spec"))
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    for key in _NUMERIC:
        frame[key] = pd.to_numeric(frame[key].map(_number), errors="coerce").astype(float)
    frame["params_m"] = frame["params"] / 1e6
    frame["gmacs"] = frame["macs"] / 1e9
    frame["gflops"] = frame["flops"] / 1e9
    frame["method"] = frame["method"].fillna("unknown").where(frame["method"].isin(METHOD_ORDER), "unknown")
    frame["status"] = frame["status"].fillna("failed")
    frame["fail_reason"] = frame["fail_reason"].fillna("")
    frame["network"] = _label_networks(frame)
    frame.attrs["source"] = source
    frame.attrs["evaluation"] = evaluation
    return frame.reset_index(drop=True)


def _label_networks(frame: pd.DataFrame) -> pd.Series:
    """One label per distinct network (same spec = same network, whatever the seed).

    A name given by the source (a reproduce manifest) wins. Otherwise a method's network is called by
    the paper's name (W, WDR, ...) when it is the method's only network, or its only one with a
    completed run; the others are numbered by their first trial/row ("W #12"), so every label
    names one spec.
    """
    keys = [json.dumps(s, sort_keys=True) if isinstance(s, dict) and s else f"row-{i}"
            for i, s in zip(frame.index, frame["spec"])]
    networks: dict[str, dict[str, int]] = {}  # method -> key -> first row
    completed: dict[str, set[str]] = {}
    for i, key, method, status in zip(frame.index, keys, frame["method"], frame["status"]):
        networks.setdefault(method, {}).setdefault(key, i)
        if status == "completed":
            completed.setdefault(method, set()).add(key)
    labels = pd.Series(index=frame.index, dtype=object)
    for i, key, method, given in zip(frame.index, keys, frame["method"], frame["network"]):
        done = completed.get(method, set())
        if isinstance(given, str) and given:
            labels[i] = given
        elif len(networks[method]) == 1 or (len(done) == 1 and key in done):
            labels[i] = PAPER_NAMES[method]
        else:
            first = networks[method][key]
            ident = frame.at[first, "trial"]
            labels[i] = f"{PAPER_NAMES[method]} #{first if pd.isna(ident) else int(ident)}"
    return labels


# -- Optuna studies -----------------------------------------------------------------------------

def _trial_row(trial: Any, objectives: Sequence[str], evaluation: str = "best") -> dict[str, Any]:
    """One trial -> one row; a completed trial without a "best" attr takes accuracies from its values."""
    attrs = trial.user_attrs
    status, reason = trial_status(trial)
    best = dict(attrs.get("best") or {})
    if status == "completed" and trial.values is not None:
        for name, value in zip(objectives, trial.values):
            best.setdefault(name, value)
    history = attrs.get("history") or []
    best = _scores(best, history, attrs.get("test"), evaluation)
    return {
        # "rule": the attribute's name in studies made by scaler 0.1
        "network": None, "method": attrs.get("method", attrs.get("rule")), "seed": attrs.get("seed"), "status": status,
        "fail_reason": reason, **{k: best.get(k) for k in SCORES}, "best_epoch": best.get("epoch"),
        "epochs_run": attrs.get("epochs_run") or len(history) or None,
        **{k: attrs.get(k) for k in ("params", "macs", "flops", "activations", "ms_per_step", "ms_p10",
                                     "ms_p90", "input_size", "factors", "spec", "run_dir")},
        "history": list(history), "source": f"trial {trial.number}", "trial": trial.number,
    }


def records_from_study(storage: str, study_name: str | None = None, evaluation: str = "best") -> pd.DataFrame:
    """Every trial of an Optuna study (COMPLETE, PRUNED, FAIL, RUNNING alike) as the tidy record.

    Args:
        storage: an RDB storage URL (sqlite:///path.db, postgresql+psycopg2://user@host/db, ...).
        study_name: the study; may be omitted when the storage holds exactly one.

    Raises:
        ScalerError: unreachable storage, missing SQLite file, unknown study name.
    """
    for prefix in ("postgres://", "postgresql://"):  # as scaler.study does: psycopg2, the driver of the extra
        if storage.startswith(prefix):
            storage = "postgresql+psycopg2://" + storage[len(prefix):]
    match = re.match(r"^sqlite:///(.+)$", storage)
    if match and match.group(1) != ":memory:" and not Path(match.group(1)).is_file():
        raise ScalerError(f"study database {match.group(1)!r} does not exist; valid: an existing SQLite file")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        names = optuna.get_all_study_names(storage=storage)
    except Exception as exc:  # sqlalchemy/driver errors are many and varied; name the storage
        raise ScalerError(f"cannot read study storage {_hide_password(storage)!r}: "
                          f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    if study_name is None:
        if len(names) != 1:
            raise ScalerError(f"storage {_hide_password(storage)!r} holds {len(names)} studies; "
                              f"pass --study-name, valid: {_names(names)}")
        study_name = names[0]
    if study_name not in names:
        raise ScalerError(f"no study {study_name!r} in {_hide_password(storage)!r}; "
                          f"valid: {_names(names)}")
    study = optuna.load_study(study_name=study_name, storage=storage)
    objectives = list(study.user_attrs.get("objectives") or [])
    if not objectives and study.metric_names:
        objectives = list(study.metric_names)
    trials = study.get_trials(deepcopy=False)
    # A killed trial and its retry are one network: report only the last attempt of each.
    retried = {t.system_attrs.get("failed_trial") for t in trials} - {None}
    rows = [_trial_row(t, objectives, evaluation) for t in trials if t.number not in retried]
    frame = _finish(rows, f"study {study_name!r} in {_hide_password(storage)}", evaluation)
    frame.attrs.update({k: study.user_attrs.get(k) for k in ("base_spec", "budgets", "objectives", "directions")})
    return frame


def _names(names: Sequence[str], limit: int = 20) -> str:
    """Study names for an error message: sorted, at most `limit`, "(none)" when empty."""
    names = sorted(names)
    shown = ", ".join(names[:limit]) or "(none)"
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _hide_password(url: str) -> str:
    """A storage URL with any password replaced by ***."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


# -- trainer run dirs ---------------------------------------------------------------------------

def _is_run_dir(path: Path) -> bool:
    """A trainer run dir holds spec.json and config.json (metrics.json from the first epoch on)."""
    return (path / "spec.json").is_file() and (path / "config.json").is_file()


def _read_json(path: Path) -> Any:
    """A JSON file's content, or None when missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _run_row(run_dir: Path, meta: dict[str, Any] | None = None, evaluation: str = "best") -> dict[str, Any]:
    """One run dir -> one row; an unfinished or unreadable run becomes a "failed"/"running" row, not an error."""
    meta = dict(meta or {})
    match = _RUN_NAME.match(run_dir.name)
    spec = _read_json(run_dir / "spec.json")
    config = _read_json(run_dir / "config.json") or {}
    row: dict[str, Any] = {
        "network": meta.get("network"), "method": meta.get("method"), "factors": meta.get("factors"),
        "seed": config.get("seed", int(match.group("seed")) if match else None),
        "spec": spec.get("spec", spec) if isinstance(spec, dict) else None,
        "source": str(run_dir), "run_dir": str(run_dir), "history": [],
    }
    if row["method"] is None and match:  # a run named like reproduce's, e.g. "WDR-seed0"
        by_name = {v: k for k, v in PAPER_NAMES.items()}
        row["method"] = by_name.get(match.group("network"))
        row["network"] = row["network"] or match.group("network")
    if not (run_dir / "metrics.json").is_file():
        row.update(status=meta.get("status") or "running", fail_reason=meta.get("fail_reason") or
                   "no epoch finished yet: still running, or killed (a rerun resumes it)")
        history = _read_json(run_dir / "history.json")
        row["history"] = history if isinstance(history, list) else []
        return row
    try:
        result = load_run(run_dir)
    except Exception as exc:  # a corrupt run must show up as such, never stop the report
        row.update(status="failed", fail_reason=f"unreadable run: {type(exc).__name__}: {exc}")
        return row
    status = RUN_TO_RECORD_STATUS.get(result.status, "failed")
    reason = "" if status == "completed" else (result.message or meta.get("fail_reason") or "")
    if status in ("running", "interrupted") and meta.get("status") == "failed":
        status, reason = "failed", meta.get("fail_reason") or reason  # reproduce's last attempt failed
    if result.status not in RUN_TO_RECORD_STATUS:
        reason = f"unknown run status {result.status!r}" + (f": {reason}" if reason else "")
    elif status == "running":
        reason = reason or f"stopped after epoch {result.epochs_run}: still running, or killed (a rerun resumes it)"
    metrics = _read_json(run_dir / "metrics.json") or {}
    best = _scores(dict(result.best or {}), list(result.history or []), metrics.get("test"), evaluation)
    row.update(status=status, fail_reason=reason, **{k: best.get(k) for k in SCORES}, best_epoch=best.get("epoch"),
               epochs_run=result.epochs_run, history=list(result.history or []),
               ms_per_step=result.ms_per_step, ms_p10=result.ms_p10, ms_p90=result.ms_p90)
    return row


def records_from_runs(run_dirs: Sequence[str | Path], evaluation: str = "best") -> pd.DataFrame:
    """Trainer run dirs as the tidy record (costs from each spec.json; method from a NAME-seedS dir name).

    Args:
        run_dirs: folders written by `scaler.train.train`.
    """
    dirs = [Path(d) for d in run_dirs]
    for path in dirs:
        if not _is_run_dir(path):
            raise ScalerError(f"{str(path)!r} is not a run dir; valid: a folder with spec.json and config.json "
                              f"written by `scaler train`")
    rows = [_run_row(d, None, evaluation) for d in dirs]
    return _finish(rows, ", ".join(map(str, dirs)) if len(dirs) <= 3 else f"{len(dirs)} run dirs", evaluation)


def records_from_reproduce(folder: str | Path, evaluation: str = "best",
                           manifest_name: str = MANIFEST) -> pd.DataFrame:
    """A `reproduce` (or `sweep`) output folder: the runs its manifest lists (missing ones shown as not finished)."""
    folder = Path(folder)
    manifest = _read_json(folder / manifest_name)
    if not isinstance(manifest, dict) or not isinstance(manifest.get("runs"), list):
        raise ScalerError(f"{str(folder / manifest_name)!r} is missing or malformed; valid: a folder written by "
                          f"`scaler reproduce` or `scaler sweep`")
    rows = []
    for run in manifest["runs"]:
        run = {**run, "method": run.get("method", run.get("rule"))}  # "rule": manifests of scaler 0.1
        run_dir = folder / run["run_dir"]
        if _is_run_dir(run_dir):
            rows.append(_run_row(run_dir, run, evaluation))
        else:  # never started (or its folder was removed): still a row, so the report shows it
            rows.append({**{k: run.get(k) for k in ("network", "method", "factors", "seed", "spec")},
                         "status": run.get("status") or "pending",
                         "fail_reason": run.get("fail_reason") or "not started yet",
                         "source": str(run_dir), "run_dir": str(run_dir), "history": []})
    frame = _finish(rows, f"reproduce folder {folder}", evaluation)
    frame.attrs.update({k: manifest.get(k) for k in ("base_spec", "budget", "factor_source", "train")})
    return frame


# -- dispatch -----------------------------------------------------------------------------------

def _study_from_toml(path: Path, study_name: str | None, evaluation: str = "best") -> pd.DataFrame:
    """The study a study TOML names (its storage URL and name, through scaler.study.load_study_config)."""
    config = load_study_config(path)
    return records_from_study(config.storage, study_name or config.name, evaluation)


def collect(source: str | Path | Sequence[str | Path], study_name: str | None = None,
            evaluation: str = "best") -> pd.DataFrame:
    """The tidy record of any source: a study TOML, a storage URL (+ study name), run dirs or a reproduce folder.

    Args:
        source: one of the above, or a list of run dirs.
        study_name: the study in a storage URL (or overriding the TOML's).
        evaluation: which accuracy of each run (EVALUATIONS): "best" validation epoch, "final" epoch, or
            the val-selected checkpoint on "test".

    Raises:
        ScalerError: a source that is none of these, naming it and what would be valid.
    """
    check_evaluation(evaluation)
    sources = [source] if isinstance(source, (str, Path)) else list(source)
    if not sources:
        raise ScalerError("no report source given; valid: a study TOML, a storage URL, run dirs or a reproduce folder")
    if len(sources) == 1:
        text = str(sources[0])
        if "://" in text:
            return records_from_study(text, study_name, evaluation)
        path = Path(text)
        if path.suffix == ".toml":
            if not path.is_file():
                raise ScalerError(f"study file {text!r} does not exist; valid: an existing study TOML")
            return _study_from_toml(path, study_name, evaluation)
        for name in (MANIFEST, SWEEP_MANIFEST):
            if (path / name).is_file():
                return records_from_reproduce(path, evaluation, name)
        if path.is_dir() and not _is_run_dir(path):
            children = sorted(p for p in path.iterdir() if p.is_dir() and _is_run_dir(p))
            if not children and (path / "runs").is_dir():
                children = sorted(p for p in (path / "runs").iterdir() if p.is_dir() and _is_run_dir(p))
            if children:
                return records_from_runs(children, evaluation)
    for item in sources:
        if not Path(item).is_dir():
            raise ScalerError(f"report source {str(item)!r} is not a study TOML, storage URL, run dir or reproduce "
                              f"folder; valid: studies/NAME.toml, sqlite:///study.db --study-name NAME, "
                              f"runs/RUN_DIR ..., or a `scaler reproduce` --out folder")
    return records_from_runs(sources, evaluation)
