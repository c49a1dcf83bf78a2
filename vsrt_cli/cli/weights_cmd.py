"""``vsrt models``, ``vsrt download-weights`` and ``vsrt import-weights``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.table import Table

from ..errors import EXIT_PARTIAL, UsageError, VsrtError, WeightsMissingError
from ..models.vsrt import SELF_FLOW_MODES
from ..weights.checkpoint import describe_config
from ..weights.loading import damage, installed_path, repair_hint
from ..weights.registry import (
    REPO_TYPES,
    BundledSource,
    HubSource,
    ImportSource,
    ModelEntry,
    Registry,
    load_registry,
    user_weights_dir,
)
from . import cli
from .console import error_console, output_console

TABLE_WIDTH = 150


# ---------------------------------------------------------------------------- vsrt models


@cli.command("models", short_help="List every known model, whether it is installed, its cost and quality.")
@click.option("--json", "as_json", is_flag=True, help="Print the registry as JSON on stdout.")
def models_command(as_json: bool) -> None:
    """List every known model: where it comes from, whether it is installed, its cost and quality."""
    registry = load_registry()
    rows = [describe_entry(entry, registry) for entry in registry.entries]
    if as_json:
        document = {"default": registry.default, "weights_dir": str(user_weights_dir()), "models": rows}
        click.echo(json.dumps(document))
        return
    table = Table(title="vsrt models (* = default)", title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("Model", "Kind", "Source", "Installed", "Size", "Params", "MAC/LR px", "Quality"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["name"] + (" *" if row["default"] else ""),
            row["kind"],
            row["source"]["type"],
            "yes" if row["installed"] else "damaged" if row["damaged"] else "no",
            format_bytes(row["size"]),
            format_count(row["params"]),
            format_count(row["macs_per_lr_pixel"]),
            format_quality(row["quality"]),
        )
    console = output_console()  # the listing is the command's result: `vsrt models | less` works
    # A pipe or log gets the whole table at once rather than squeezed into 80 columns.
    if not console.is_terminal:
        console.width = TABLE_WIDTH
    console.print(table)
    # Long texts (URLs, commands, provenance) go below the table, where they are not wrapped
    # into narrow columns and can be copied whole.
    for row in rows:
        for origin in quality_sources(row["quality"]):
            console.print(f"{row['name']}: quality {origin}", markup=False, soft_wrap=True)
        if row["get"]:
            state = "damaged" if row["damaged"] else "not installed"
            console.print(f"{row['name']}: {state}; {row['get']}", markup=False, soft_wrap=True)
    console.print(f"Imported and converted weights live in {user_weights_dir()} (set VSRT_HOME to move them).")


def describe_entry(entry: ModelEntry, registry: Registry) -> dict[str, Any]:
    path = installed_path(entry, registry)
    source = entry.source
    problem = None if path is not None else damage(entry, registry)
    size = path.stat().st_size if path is not None else entry.size
    if isinstance(source, HubSource) and size is None:
        size = source.size
    return {
        "name": entry.name,
        "default": entry.name == registry.default,
        "kind": entry.kind,
        "description": entry.description,
        "preset": entry.preset,
        "config": None if entry.config is None else json.loads(entry.config.to_json()),
        "source": {key: value for key, value in vars(source).items()},
        "installed": path is not None,
        "damaged": problem is not None,
        "path": None if path is None else str(path),
        "size": size,
        "params": entry.params,
        "macs_per_lr_pixel": entry.macs_per_lr_pixel,
        "compute_note": entry.compute_note,
        "quality": entry.quality,
        "licence": entry.licence,
        "provenance": entry.provenance,
        "notes": entry.notes,
        "get": None if path is not None else how_to_get(entry, problem),
    }


def how_to_get(entry: ModelEntry, problem: str | None = None) -> str:
    source = entry.source
    if isinstance(source, HubSource):
        return f"vsrt download-weights {entry.name}"
    if problem is not None:
        return f"{problem}; {repair_hint(entry)}"
    if isinstance(source, ImportSource):
        return f"download {source.filename} from {source.url}, then run: {source.command}"
    return f"its bundled file {entry.file} is not in this build of vsrt: install a release that includes it"


def format_bytes(size: int | None) -> str:
    if size is None:
        return "-"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def format_count(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value:g}"


def format_quality(quality: dict[str, Any]) -> str:
    """``{"REDS4": {"psnr_rgb": 31.19, "source": "..."}}`` -> ``REDS4 psnr_rgb 31.19``."""
    if not quality:
        return "not measured"
    parts = []
    for dataset, metrics in quality.items():
        if isinstance(metrics, dict):
            values = " ".join(f"{key} {value}" for key, value in metrics.items() if key not in ("note", "source"))
        else:
            values = str(metrics)
        parts.append(f"{dataset} {values}")
    return "; ".join(parts)


def quality_sources(quality: dict[str, Any]) -> list[str]:
    return [
        f"on {dataset}: {metrics.get('source') or metrics.get('note')}"
        for dataset, metrics in quality.items()
        if isinstance(metrics, dict) and (metrics.get("source") or metrics.get("note"))
    ]


# ---------------------------------------------------------------------------- vsrt download-weights


@cli.command("download-weights", short_help="Fetch models from the Hugging Face Hub, SHA-256 checked.")
@click.argument("names", nargs=-1)
@click.option("--all", "all_models", is_flag=True, help="Every model hosted on the Hub.")
@click.option("--repo-id", help="A Hub repository not in the registry (with --filename and --revision).")
@click.option("--filename", help="The file in --repo-id.")
@click.option("--revision", help="A commit hash (a branch or tag works, but can change).")
@click.option("--repo-type", type=click.Choice(REPO_TYPES), default="model", show_default=True)
@click.option("--name", "local_name", help="Name of the converted file (default: the file's stem).")
@click.option("--sha256", help="Expected SHA-256 of --filename; without it nothing is verified.")
@click.option("--force", is_flag=True, help="Download again even if a verified copy is cached.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON on stdout.")
def download_command(
    names: tuple[str, ...],
    all_models: bool,
    repo_id: str | None,
    filename: str | None,
    revision: str | None,
    repo_type: str,
    local_name: str | None,
    sha256: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Fetch models from the Hugging Face Hub into its cache, verify them and convert them.

    Honours HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE, HF_ENDPOINT and HF_TOKEN.
    """
    from ..weights import download  # imports huggingface_hub: only this command needs it

    console = error_console()
    results = []
    failures: list[VsrtError] = []
    if repo_id or filename or revision:
        if not (repo_id and filename and revision):
            raise UsageError("--repo-id, --filename and --revision go together")
        if names or all_models:
            raise UsageError("give model names or --repo-id, not both")
        result, warnings = download.fetch_adhoc(repo_id, filename, revision, repo_type, local_name, sha256, force)
        for warning in warnings:
            console.print(f"warning: {warning}", markup=False)
        results.append(report_fetch(result, console, as_json))
    else:
        registry = load_registry()
        hub = [entry.name for entry in registry.entries if isinstance(entry.source, HubSource)]
        if all_models:
            names = tuple(dict.fromkeys(names + tuple(hub)))
        if not names:
            raise UsageError(f"name the models to download ({', '.join(hub) or 'none on the Hub'}) or use --all")
        for name in names:
            try:
                entry = registry.get(name)
                if isinstance(entry.source, HubSource):
                    results.append(report_fetch(download.fetch_entry(entry, registry, force), console, as_json))
                else:
                    results.append(report_local(entry, registry, console, as_json))
            except VsrtError as error:
                if len(names) == 1:  # its error is the command's
                    raise
                # One model that cannot be had does not cost the others (as in an upscale batch).
                console.print(f"vsrt: error: {error}", markup=False, highlight=False)
                results.append({"name": name, "status": "failed", "error": str(error), "exit_code": error.exit_code})
                failures.append(error)
    if as_json:
        click.echo(json.dumps({"results": results}))
    if results and len(failures) == len(results):
        raise click.exceptions.Exit(failures[0].exit_code)
    if failures:
        raise click.exceptions.Exit(EXIT_PARTIAL)


def report_fetch(result: Any, console: Any, as_json: bool) -> dict[str, Any]:
    if not as_json:
        said = {
            "present": "already present and verified, nothing to do",
            "downloaded": "downloaded and verified (SHA-256 matches)",
            "converted": "verified cached copy converted",
        }[result.status]
        console.print(f"{result.name}: {said}: {result.path}", markup=False)
    return {
        "name": result.name,
        "status": result.status,
        "path": str(result.path),
        "sha256": result.sha256,
        "cached_file": None if result.cached_file is None else str(result.cached_file),
    }


def report_local(entry: ModelEntry, registry: Registry, console: Any, as_json: bool) -> dict[str, Any]:
    """Bundled and imported models are not downloaded: say where they are or how to get them."""
    path = installed_path(entry, registry)
    if path is None:
        raise WeightsMissingError(f"{entry.name} is not on the Hub; {how_to_get(entry, damage(entry, registry))}")
    if not as_json:
        origin = "bundled with vsrt" if isinstance(entry.source, BundledSource) else "imported"
        console.print(f"{entry.name}: {origin}, nothing to download: {path}", markup=False)
    return {"name": entry.name, "status": "present", "path": str(path), "sha256": entry.sha256, "cached_file": None}


# ---------------------------------------------------------------------------- vsrt import-weights


@cli.command("import-weights", short_help="Convert an official (BasicSR) checkpoint to vsrt safetensors.")
@click.argument("src", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("dest", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--frames", type=click.IntRange(min=1), help="Frames per window T, if the checkpoint is ambiguous.")
@click.option("--patch-size", type=click.IntRange(min=1), help="Attention patch size (official: 8).")
@click.option("--heads", type=click.IntRange(min=1), help="Attention heads (official: 1).")
@click.option("--self-flow", type=click.Choice(SELF_FLOW_MODES), help="Window-end flow (official: spynet).")
@click.option("--param-key", help="Which entry of a BasicSR file to read (default: params, params_ema, state_dict).")
@click.option("-y", "--overwrite", "--force", "force", is_flag=True, help="Replace DEST if it exists.")
@click.option("--json", "as_json", is_flag=True, help="Print the import report as JSON on stdout.")
def import_command(
    src: Path,
    dest: Path | None,
    frames: int | None,
    patch_size: int | None,
    heads: int | None,
    self_flow: str | None,
    param_key: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Convert an official VSR-Transformer (or SPyNet) checkpoint into a vsrt .safetensors file.

    Without DEST, a checkpoint with the official REDS architecture goes to the user weights
    dir as vsrt-official-reds, so `-m vsrt-official-reds` then works. Pickles are read with
    torch.load(weights_only=True): nothing in the file is executed.
    """
    from ..weights.importer import import_any

    hints = {"num_frames": frames, "patch_size": patch_size, "heads": heads, "self_flow": self_flow}
    report = import_any(src, dest, hints=hints, param_key=param_key, force=force)
    if as_json:
        click.echo(json.dumps(report.as_dict()))
        return
    console = error_console()
    what = "SPyNet" if report.config is None else f"VSR-Transformer ({describe_config(report.config)})"
    console.print(f"imported {report.source} ({report.container}) as a {what}", markup=False)
    for note in report.assumptions:
        console.print(f"  note: {note}", markup=False)
    console.print(f"wrote {report.dest}", markup=False)
    if report.model_name and report.kind == "vsr-transformer":
        console.print(f"use it with: -m {report.model_name}", markup=False)
    elif report.kind == "vsr-transformer":
        console.print(f"use it with: --weights {report.dest}", markup=False)
