"""`report(source, out)`: collect -> table -> summary -> plots, every artefact written and returned as a record."""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import optuna
import pandas as pd

from scaler.errors import ScalerError
from scaler.io import staged_folder, write_text_atomic
from scaler.report._pareto import study_hypervolume
from scaler.report._plots import ACCURACY, TASK_ACCURACIES, plot_all
from scaler.report._records import collect
from scaler.report._summary import Summary, summarize
from scaler.report._tables import paper_table, table_title, write_table
from scaler.study import load_study, load_study_config, reuse_counts, study_trials_frame
from scaler.train import CLASSIFICATION, SEGMENTATION

__all__ = ["Report", "report", "write_report"]


@dataclass(frozen=True)
class Report:
    """Everything a report holds: the tidy record, the table, the summary, each plot's frame, the files written."""

    records: pd.DataFrame
    table: pd.DataFrame
    summary: Summary
    frames: dict[str, pd.DataFrame]
    files: tuple[Path, ...]
    #: A study's search record (search.json): distinct/reused networks and the hypervolume over trials.
    search: dict[str, object] | None = None


def write_report(records: pd.DataFrame, out: str | Path, accuracy: str | None = None) -> Report:
    """Write table.csv, table.md, summary.md, comparisons.csv, records.json and plots/*.png|svg into `out`;
    `accuracy` None ranks by the runs' task: mIoU, or accuracy when every run is a classification run."""
    _check_accuracy(accuracy)
    out = Path(out)
    # Written into a staging folder and moved in only when complete: a full disk or Ctrl-C part-way
    # leaves the previous report in `out` as it was, never new tables beside old plots.
    with staged_folder(out) as stage:
        report = _write_report(records, stage, accuracy)
    return replace(report, files=tuple(out / path.relative_to(stage) for path in report.files))


def _task_accuracies(records: pd.DataFrame) -> tuple[str, ...]:
    """The accuracies of the records' task: classification's when every run classifies, else segmentation's."""
    tasks = set(records["task"]) if "task" in records and len(records) else {SEGMENTATION.name}
    return TASK_ACCURACIES[CLASSIFICATION.name if tasks == {CLASSIFICATION.name} else SEGMENTATION.name]


def _write_report(records: pd.DataFrame, out: Path, accuracy: str | None) -> Report:
    """Write every artefact of the report into `out` (a staging folder)."""
    evaluation = records.attrs.get("evaluation", "best")
    table = paper_table(records)
    title = table_title(table, evaluation)
    accuracy = accuracy or _task_accuracies(records)[0]
    summary = summarize(table, records, accuracy, evaluation=f"{title}.")
    files = write_table(table, out, evaluation)
    files.append(summary.write(out))
    files.append(out / "comparisons.csv")
    accuracies = tuple(dict.fromkeys((accuracy, *_task_accuracies(records))))
    frames, plots = plot_all(records, out, accuracies, subtitle=title)
    files += plots
    # The record itself, so a report can be re-read or diffed without the study database.
    path = out / "records.json"
    path.write_text(records.drop(columns=["history"]).to_json(orient="records", indent=1, default_handler=str))
    files.append(path)
    return Report(records, table, summary, frames, tuple(files))


def report(source: str | Path | Sequence[str | Path], out: str | Path, study_name: str | None = None,
           accuracy: str | None = None, evaluation: str = "best") -> Report:
    """Report a study, run dirs or a reproduce folder into `out`.

    Args:
        source: a study TOML, an RDB storage URL (with `study_name`), run dirs, or a reproduce folder.
        out: the report folder (created).
        study_name: the study in a storage URL.
        accuracy: the accuracy the summary ranks by (scaler.report.ACCURACY): None (default) picks by the runs'
            task, miou for segmentation and accuracy for classification runs.
        evaluation: which accuracy of each run: "best" validation epoch (default), "final" epoch, or "test"
            (the val-selected checkpoint on the test split); see scaler.vocabulary.EVALUATIONS.

    Returns:
        The Report record (tidy records, table, summary, plot frames, files written).

    Raises:
        ScalerError: a source that cannot be read, naming it and what would be valid.
    """
    _check_accuracy(accuracy)  # before reading a possibly large study
    written = write_report(collect(source, study_name, evaluation), out, accuracy)
    search = _search_record(source, study_name)
    if search is None:
        return written
    path = Path(out) / "search.json"
    write_text_atomic(path, json.dumps(search, indent=1, default=str))
    return replace(written, files=(*written.files, path), search=search)


def _search_record(source: str | Path | Sequence[str | Path], study_name: str | None) -> dict[str, object] | None:
    """For one study (a study TOML, or a storage URL): {"networks": reuse_counts, "hypervolume": ...}; else None."""
    if not isinstance(source, (str, Path)):
        source = list(source)
        if len(source) != 1:
            return None
        source = source[0]
    text = str(source)
    if "://" in text:
        storage, name = text, study_name
        if name is None:
            names = optuna.get_all_study_names(storage=text)
            if len(names) != 1:
                return None
            name = names[0]
    elif text.endswith(".toml"):
        config = load_study_config(text)
        storage, name = config.storage, study_name or config.name
    else:
        return None
    frame = study_trials_frame(storage, name)
    hv = study_hypervolume(frame, load_study(storage, name).user_attrs)
    return {"study": name, "networks": reuse_counts(frame), "hypervolume": hv.as_dict()}


def _check_accuracy(accuracy: str) -> None:
    """A ScalerError for an accuracy the summary cannot rank by (None: the task's)."""
    if accuracy is not None and accuracy not in ACCURACY:
        raise ScalerError(f"unknown accuracy {accuracy!r}; valid: {', '.join(ACCURACY)}")
