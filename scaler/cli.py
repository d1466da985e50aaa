"""The `scaler` command line: thin typer commands that parse, call the library and print."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from scaler.errors import IO_FAILURES, ScalerError, os_error_text
from scaler.vocabulary import DEFAULT_DEPTH_ROUNDING, DEPTH_ROUNDINGS, METHODS, NAMED_METHODS, choices_text

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Scale encoder-decoder segmentation networks under a budget; train, search, report.")


def _methods(text: str) -> list[str]:
    """Expand --method: "all" (every named method) or a comma list of method names."""
    names = list(NAMED_METHODS) if text == "all" else [m.strip() for m in text.split(",") if m.strip()]
    for name in names:
        if name not in METHODS:
            raise ScalerError(f"unknown scaling method {name!r}; valid: all, {choices_text(METHODS)}")
    return names


@app.command()
def scale(
    family: str = typer.Argument("unet", help="Model family (see `scaler families`)."),
    base_width: Optional[int] = typer.Option(None, help="Base width (channels of the first stage)."),
    classes: Optional[int] = typer.Option(None, help="Number of classes."),
    in_channels: Optional[int] = typer.Option(None, help="Input channels."),
    input: Optional[str] = typer.Option(None, "--input", help="Base input size HxW, e.g. 512x1024."),
    option: List[str] = typer.Option([], help="Family option NAME=VALUE (repeatable), e.g. activation=relu."),
    budget: List[str] = typer.Option([], help="Budget, e.g. params=2x, macs=40G (repeatable or comma list)."),
    method: str = typer.Option("all", help=f"all, or a comma list of {choices_text(METHODS)}."),
    tolerance: float = typer.Option(0.0, help="Relative slack allowed over each budget (0.01 = 1%)."),
    ratio: str = typer.Option("paper", help="Compound ratio: paper (1.8,1.16,1.4), efficientnet, or D,W,R."),
    factors: List[str] = typer.Option([], help="Explicit factors, e.g. encoder_width=1.3,decoder_width=1.0."),
    depth_rounding: str = typer.Option(DEFAULT_DEPTH_ROUNDING,
                                       help=f"Depth rounding: {choices_text(DEPTH_ROUNDINGS)}."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    save: Optional[Path] = typer.Option(None, help="Write each variant's record (with its spec) to DIR/METHOD.json."),
) -> None:
    """Scale a base network by each method, solved into the budget after rounding; print a table."""
    from scaler.families import base_spec
    from scaler.formatting import variants_table
    from scaler.io import prepare_out_dir, write_text_atomic
    from scaler.parsing import parse_assignments, parse_size
    from scaler.scaling import ScalingOptions

    if save is not None:
        prepare_out_dir(save, "--save")
    options = parse_assignments(option, "option")
    for name, value in (("width", base_width), ("classes", classes), ("in_channels", in_channels)):
        if value is not None:
            options[name] = value
    if input is not None:
        options["input_size"] = parse_size(input)
    base = base_spec(family, **options)
    methods = _methods(method)
    scaling = ScalingOptions.parse("custom" if factors else "baseline", budget, ratio, tolerance, depth_rounding,
                                   factors)
    solutions = [scaling.with_method(m).scale(base) for m in methods]
    budgets = scaling.budgets
    records = [s.as_dict() for s in solutions]
    if save is not None:
        for record in records:
            write_text_atomic(save / f"{record['method']}.json", json.dumps(record, indent=2))
    if as_json:
        typer.echo(json.dumps(records, indent=2))
    else:
        budgets_text = ", ".join(map(str, budgets)) or "none (explicit factors)"
        typer.echo(f"{family}: base {base.input_size[0]}x{base.input_size[1]}, budget {budgets_text}"
                   f"{f' (+{tolerance:.1%} tolerance)' if tolerance else ''}; MACs/FLOPs per image, FLOPs = 2 x MACs")
        typer.echo(variants_table(solutions))
        if save is not None:
            typer.echo(f"saved {len(records)} specs to {save}/")


@app.command()
def inspect(spec_file: Path = typer.Argument(..., help="A spec JSON file (from `scaler scale --save`).")) -> None:
    """Print a per-stage breakdown of a spec: depth, width, params, MACs, activations."""
    from scaler.complexity import complexity, stage_table
    from scaler.formatting import text_table
    from scaler.io import load_spec

    spec = load_spec(spec_file)
    rows = [{**r, "params": f"{r['params']:,}", "MACs": f"{r.pop('macs'):,}", "activations": f"{r['activations']:,}"}
            for r in stage_table(spec)]
    total = complexity(spec)
    typer.echo(f"{spec.family} {spec.in_channels}->{spec.classes} classes at {spec.input_size[0]}x{spec.input_size[1]}")
    typer.echo(text_table(rows, ["stage", "depth", "width", "params", "MACs", "activations"]))
    typer.echo(f"total: params {total.params:,}  MACs {total.macs:,} ({total.macs / 1e9:.3f} GMACs, "
               f"{total.flops / 1e9:.3f} GFLOPs)  activations {total.activations:,}")


@app.command()
def families() -> None:
    """List the registered model families (installed plug-ins included) and their presets."""
    from scaler.families import families as registered

    for name, fam in registered().items():
        presets = f" [presets: {', '.join(sorted(fam.presets))}]" if fam.presets else ""
        typer.echo(f"{name:12s} {fam.description}{presets}")


from scaler.commands import register_all  # noqa: E402  (after the core commands, so --help lists them first)

register_all(app)
from scaler.commands import bench as _bench  # noqa: E402

_bench.register(app)


def _raw_value(param: object) -> str | None:
    """The command-line text given for `param`, so a usage error can name the bad value."""
    opts = getattr(param, "opts", None) or []
    args = sys.argv[1:]
    for i, arg in enumerate(args):
        for opt in opts:
            if arg == opt and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(opt + "="):
                return arg[len(opt) + 1:]
    return None


def main() -> None:
    """Entry point: a ScalerError or a usage error becomes ONE line on stderr and exit code 2."""
    try:
        # Outside standalone mode typer RETURNS the code of a typer.Exit (130 after a bare Ctrl-C): pass it on.
        code = app(standalone_mode=False)
    except ScalerError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except OSError as exc:  # a path the commands could not check up front; a genuine I/O failure exits 1
        typer.echo(f"error: {os_error_text(exc)}", err=True)
        sys.exit(1 if exc.errno in IO_FAILURES else 2)
    except typer.exceptions.TyperException as exc:  # usage errors: typer's parser exceptions carry exit_code 2
        message = " ".join((exc.format_message() if hasattr(exc, "format_message") else str(exc)).split())
        value = _raw_value(getattr(exc, "param", None))
        if value is not None and repr(value) not in message:
            message = f"{message} (got {value!r})"
        typer.echo(f"error: {message} (see `scaler --help`)", err=True)
        sys.exit(getattr(exc, "exit_code", 2))
    if isinstance(code, int) and not isinstance(code, bool):
        sys.exit(code)
