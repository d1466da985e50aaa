"""`reproduce`: train the asymmetric-scaling paper's six networks with the same settings and seeds, then report.

The six networks are Baseline, D, W, R, WDR and AWDR. By default they use the paper's factors
(D x2, W x1.4, R x1.4, WDR depth 1.8 / width 1.16 / resolution 1.4, AWDR the same on the encoder
only), which the paper chose for params <= 2x base; with `solve=True` each method's factor is instead
solved into the budget after rounding. Which factors were used, and each network's params ratio to
the base, is written to networks.md and reproduce.json. Runs land in OUT/runs/NAME-seedS; finished
runs are skipped and a killed one resumes from its last epoch, so a killed reproduce resumes where it stopped.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scaler.complexity import complexity
from scaler.errors import ScalerError
from scaler.families import base_spec
from scaler.bench import BenchSettings
from scaler.report._records import MANIFEST
from scaler.report._report import write_report
from scaler.report._runs import (
    check_run_dir, dataset_classes, read_manifest, seed_list, timing_phase, train_config, train_runs, write_manifest,
)
from scaler.rules import Factors, factors_text
from scaler.scaling import ScalingOptions
from scaler.solver import cost_values, fits, scale
from scaler.spec import NetSpec
from scaler.train import TrainConfig
from scaler.vocabulary import DEFAULT_DEPTH_ROUNDING

__all__ = [
    "PAPER_NETWORKS", "PAPER_FACTORS", "PAPER_REFERENCE", "ReproNetwork", "ReproducePlan", "reproduce_networks",
    "plan_reproduce", "run_reproduce", "reproduce",
]

#: The paper's networks, in its table's order, and the method that makes each.
PAPER_NETWORKS = {"Baseline": "baseline", "D": "depth", "W": "width", "R": "resolution", "WDR": "compound",
                  "AWDR": "asymmetric"}
#: The paper's factors (Cityscapes, params <= 2x base): D 62.4M, W 61.3M, R 31.0M, WDR 62.8M, AWDR 55.2M.
PAPER_FACTORS = {
    "Baseline": Factors(),
    "D": Factors.uniform(depth=2.0),
    "W": Factors.uniform(width=1.4),
    "R": Factors(resolution=1.4),
    "WDR": Factors.uniform(depth=1.8, width=1.16, resolution=1.4),
    "AWDR": Factors(encoder_depth=1.8, encoder_width=1.16, resolution=1.4),
}

#: The paper's own results on Cityscapes (accuracy %, params M, ms/step; None where it gives none),
#: printed next to the reproduction for comparison.
PAPER_REFERENCE = {"Baseline": (80.0, 31.0, 430), "D": (83.6, 62.4, None), "W": (82.5, 61.3, None),
                   "R": (82.9, 31.0, None), "WDR": (84.7, 62.8, 1585), "AWDR": (84.8, 55.2, 1134)}


@dataclass(frozen=True)
class ReproNetwork:
    """One of the six networks: its name, method, the factors used and where they came from, its spec and cost."""

    name: str
    method: str
    factors: Factors
    factor_source: str  # "paper" or "solved"
    spec: NetSpec
    params: int
    macs: int
    params_ratio: float
    within_budget: bool
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The manifest entry."""
        return {"network": self.name, "method": self.method, "factors": self.factors.as_dict(),
                "factor_source": self.factor_source, "params": self.params, "macs": self.macs,
                "flops": 2 * self.macs, "params_ratio": self.params_ratio, "within_budget": self.within_budget,
                "note": self.note, "spec": self.spec.to_dict()}


def default_depth_policy(solve: bool) -> str:
    """"floor" reproduces the paper's own counts with its factors; "stagewise" uses a budget finely when solving."""
    return DEFAULT_DEPTH_ROUNDING if solve else "floor"


def reproduce_networks(base: NetSpec, budget: str = "params=2x", solve: bool = False,
                       depth_policy: str | None = None, tolerance: float = 0.0,
                       ratio: str | Sequence[float] = "paper") -> list[ReproNetwork]:
    """The six networks from `base`: the paper's factors, or (`solve`) factors solved into `budget`.

    Args:
        base: the base network (the paper's U-Net: `base_spec("unet", ...)`).
        budget: e.g. "params=2x"; solved into when `solve`, else only checked and reported.
        solve: solve each method's factor into `budget` instead of using the paper's factors.
        depth_policy: depth rounding (scaler.vocabulary.DEPTH_ROUNDINGS); by default "floor" with the
            paper's factors (its WDR 62.8M and AWDR 55.2M have 3 units per stage: 2 x 1.8 = 3.6
            truncated) and "stagewise" when solving.
        tolerance: fraction over the budget that still fits (solving and the "within budget" check alike).
        ratio: the compound direction when solving ("paper", "efficientnet" or D,W,R).
    """
    options = ScalingOptions.parse(budget=budget, ratio=ratio, tolerance=tolerance,
                                   depth_rounding=depth_policy or default_depth_policy(solve))
    if not options.budgets:
        raise ScalerError(f"reproduce needs a budget such as params=2x, got {budget!r}")
    limits = options.limits(base)
    base_params = complexity(base).params
    networks = []
    for name, method in PAPER_NETWORKS.items():
        solution = (options.with_method(method).scale(base) if solve else
                    scale(base, method, factors=PAPER_FACTORS[name], depth_policy=options.depth_rounding))
        within = fits(cost_values(solution.spec, list(limits)), limits, options.tolerance)
        note = solution.note
        if not within:
            note = (note + "; " if note else "") + f"exceeds the budget {', '.join(map(str, options.budgets))}" \
                f"{f' (+{options.tolerance:.1%})' if options.tolerance else ''} after rounding"
        networks.append(ReproNetwork(name, method, solution.factors, "solved" if solve else "paper", solution.spec,
                                     solution.cost.params, solution.cost.macs, solution.cost.params / base_params,
                                     within, note))
    return networks


def _networks_markdown(networks: list[ReproNetwork], base: NetSpec, budget: str, depth_policy: str) -> str:
    """networks.md: which factors each network used and its params ratio to the Baseline."""
    lines = [f"# Networks ({networks[0].factor_source} factors; budget {budget}; {depth_policy} depth rounding)", "",
             f"Base: {base.family}, encoder widths {[s.width for s in base.encoder]}, input "
             f"{base.input_size[0]}x{base.input_size[1]}, {base.classes} classes.", "",
             "| Network | Method | Factors | Input | Params (M) | Params / Baseline | GMACs | GFLOPs | Within budget "
             "| Paper (Cityscapes): accuracy, params, ms/step |",
             "|---|---|---|---|---:|---:|---:|---:|---|---|"]
    for n in networks:
        factors = factors_text(n.factors.as_dict())
        accuracy, params_m, ms = PAPER_REFERENCE[n.name]
        paper = f"{accuracy:.1f}%, {params_m:.1f}M" + (f", {ms} ms" if ms else "")
        lines.append(f"| {n.name} | {n.method} | {factors} | {n.spec.input_size[0]}x{n.spec.input_size[1]} | "
                     f"{n.params / 1e6:.3f} | {n.params_ratio:.3f} | {n.macs / 1e9:.3f} | {2 * n.macs / 1e9:.3f} | "
                     f"{'yes' if n.within_budget else 'NO'} | {paper} |")
    notes = [f"- {n.name}: {n.note}" for n in networks if n.note]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"


@dataclass(frozen=True)
class ReproducePlan:
    """What a reproduce will train: the six networks, the shared training config, and the runs (network x seed)."""

    out: Path
    base: NetSpec
    networks: tuple[ReproNetwork, ...]
    config: TrainConfig
    seeds: tuple[int, ...]
    names: tuple[str, ...]
    #: The manifest written to OUT/reproduce.json; its "runs" entries are updated as runs finish.
    manifest: dict[str, Any]

    def todo(self) -> list[dict[str, Any]]:
        """The manifest runs this call trains (its networks and seeds), in order: every network of seed 0 first."""
        return [r for r in self.manifest["runs"] if r["network"] in self.names and r["seed"] in self.seeds]

    def network(self, name: str) -> ReproNetwork:
        """One of the six networks by name."""
        return next(n for n in self.networks if n.name == name)


def plan_reproduce(
    data: str,
    out: str | Path,
    data_root: str | None = None,
    seeds: int | Sequence[int] = 1,
    base_width: int = 64,
    input_size: tuple[int, int] | None = None,
    budget: str = "params=2x",
    solve: bool = False,
    family: str = "unet",
    depth_policy: str | None = None,
    tolerance: float = 0.0,
    ratio: str | Sequence[float] = "paper",
    train_settings: dict[str, Any] | None = None,
    networks: Sequence[str] | None = None,
) -> ReproducePlan:
    """Check everything, write networks.md and reproduce.json, and return what to train (nothing is trained here).

    A run folder holding a run of another network or other explicit settings is an error before
    anything is written; runs that a narrower earlier call of the same settings planned stay listed.
    """
    out = Path(out)
    seeds_used = seed_list(seeds)
    names = list(networks or PAPER_NETWORKS)
    unknown = [n for n in names if n not in PAPER_NETWORKS]
    if unknown:
        raise ScalerError(f"unknown network(s) {unknown}; valid: {', '.join(PAPER_NETWORKS)}")
    settings = dict(train_settings or {})
    config = train_config(data, data_root, settings)
    options: dict[str, Any] = {"width": base_width,
                               "classes": dataset_classes(data, config.data_root, dict(config.data_options))}
    if input_size is not None:
        options["input_size"] = tuple(input_size)
    base = base_spec(family, **options)
    depth_policy = depth_policy or default_depth_policy(solve)
    six = reproduce_networks(base, budget, solve, depth_policy, tolerance, ratio)
    chosen = {n.name: n for n in six if n.name in names}
    runs = [{"network": n.name, "method": n.method, "factors": n.factors.as_dict(), "seed": seed,
             "run_dir": f"runs/{n.name}-seed{seed}", "spec": n.spec.to_dict(), "status": None, "fail_reason": ""}
            for seed in seeds_used for n in chosen.values()]
    for run in runs:  # before writing anything: a folder of another experiment is an error, not a resume
        check_run_dir(out / run["run_dir"], chosen[run["network"]].spec, dataclasses.replace(config, seed=run["seed"]))
    train_record = {k: v for k, v in config.to_dict().items() if k != "seed"}
    previous = read_manifest(out, MANIFEST) or {}
    if previous.get("train") == train_record:  # runs of the same settings a narrower call left out stay
        mine = {r["run_dir"] for r in runs}
        runs += [r for r in previous.get("runs", []) if r.get("run_dir") not in mine]
    manifest = {"base_spec": base.to_dict(), "budget": budget, "tolerance": tolerance,
                "factor_source": "solved" if solve else "paper", "depth_policy": depth_policy, "seeds": seeds_used,
                "train": train_record, "networks": [n.as_dict() for n in six], "runs": runs}
    out.mkdir(parents=True, exist_ok=True)
    (out / "networks.md").write_text(_networks_markdown(six, base, budget, depth_policy))
    write_manifest(out, manifest, MANIFEST)
    return ReproducePlan(out, base, tuple(six), config, tuple(seeds_used), tuple(names), manifest)


def run_reproduce(plan: ReproducePlan, progress: bool = False, log: Callable[[str], None] | None = None) -> None:
    """Train the plan's runs in order, skipping finished ones and resuming killed ones; record each outcome."""
    train_runs(plan.out, plan.todo(), {n.name: n.spec for n in plan.networks}, plan.config,
               lambda: write_manifest(plan.out, plan.manifest, MANIFEST), progress, log)


def reproduce(
    data: str,
    out: str | Path,
    data_root: str | None = None,
    seeds: int | Sequence[int] = 1,
    epochs: int | None = None,
    base_width: int = 64,
    input_size: tuple[int, int] | None = None,
    budget: str = "params=2x",
    solve: bool = False,
    batch_size: int | None = None,
    lr: float | None = None,
    family: str = "unet",
    depth_policy: str | None = None,
    train_options: dict[str, Any] | None = None,
    networks: Sequence[str] | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    tolerance: float = 0.0,
    ratio: str | Sequence[float] = "paper",
    bench_settings: BenchSettings | None = None,
):
    """Train the paper's six networks x seeds under the same settings, time every trained network in one isolated
    phase (recorded in reproduce.json), then write the report into `out`.

    Args:
        data: dataset name (camvid, shapes, ...).
        out: output folder: runs/ NAME-seedS run dirs, reproduce.json, networks.md and the report.
        data_root: dataset folder (None for shapes; camvid falls back to its default root).
        seeds: a count (3 -> seeds 0, 1, 2) or explicit seeds; every network is trained on each.
        epochs, batch_size, lr: training settings shared by every run (None: TrainConfig's default).
        base_width: channels of the base U-Net's first stage (the paper: 64).
        input_size: the base (H, W); R, WDR and AWDR train at 1.4x it (None: the family default).
        budget: the budget, e.g. "params=2x": solved into with `solve`, else checked and reported.
        solve: solve each method's factor into `budget` instead of the paper's factors.
        family: the model family of the base network.
        depth_policy: depth rounding of the scaled networks (see `reproduce_networks`).
        train_options: further TrainConfig fields, e.g. {"max_steps_per_epoch": 50, "amp": "off"}.
        networks: a subset of the six names to train (default all six).
        progress: show the trainer's progress bars.
        log: called with one line per run (the CLI prints them).
        tolerance, ratio: as `reproduce_networks`.
        bench_settings: device, threads, precision, rounds and clock of the isolated timing (its mode and batch
            are set: train step at the training batch, and inference); default BenchSettings().

    Returns:
        The Report record of `scaler.report.report` on `out`.
    """
    settings = {k: v for k, v in {"epochs": epochs, "batch_size": batch_size, "lr": lr}.items() if v is not None}
    settings.update(train_options or {})
    plan = plan_reproduce(data, out, data_root, seeds, base_width, input_size, budget, solve, family, depth_policy,
                          tolerance, ratio, settings, networks)
    run_reproduce(plan, progress, log)
    return write_report(timing_phase(plan.out, plan.manifest, MANIFEST, bench_settings or BenchSettings(), log=log),
                        plan.out)


