"""Fetch hub models into the standard Hugging Face cache and verify them.

huggingface_hub does the transfer and owns the cache, so HF_HOME, HF_HUB_CACHE,
HF_HUB_OFFLINE, HF_ENDPOINT and HF_TOKEN behave as they do for every other Hub tool. vsrt
adds what the Hub client does not do: a SHA-256 check against the registry's pinned hash
before anything reads the file (a file that fails it is deleted from the cache), and the
conversion of a pickled PyTorch file into a vsrt safetensors file in the user weights dir.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import huggingface_hub
from huggingface_hub import constants as hub_constants
from huggingface_hub.errors import (
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from ..errors import CheckpointError, UsageError, WeightsMissingError
from . import importer
from .checkpoint import ARCHITECTURE, SPYNET_ARCHITECTURE, file_sha256, read_metadata, read_raw_metadata
from .registry import HubSource, ModelEntry, Registry, user_weights_dir

try:  # the Hub client's transport library; its name changed across huggingface_hub releases
    from httpx2 import HTTPError as TransportError
except ImportError:  # pragma: no cover - older huggingface_hub
    TransportError = OSError  # type: ignore[misc,assignment]

COMMIT_HASH = re.compile(r"^[0-9a-f]{40}$")
SHA256_HEX = re.compile(r"^[0-9a-fA-F]{64}$")
# Metadata key of a converted file: the SHA-256 of the hub file it was made from.
SOURCE_SHA256_KEY = "source_sha256"


@dataclass(frozen=True)
class FetchResult:
    name: str
    # "present": nothing to do; "downloaded": fetched (and converted if needed);
    # "converted": the verified hub file was already cached and only needed converting.
    status: str
    path: Path
    sha256: str
    cached_file: Path | None


def download_command(name: str) -> str:
    return f"vsrt download-weights {name}"


def architecture_of(kind: str) -> str:
    return SPYNET_ARCHITECTURE if kind == "spynet" else ARCHITECTURE


def cached_hub_file(source: HubSource) -> Path | None:
    """The file in the Hub cache at the pinned revision, without touching the network."""
    found = huggingface_hub.try_to_load_from_cache(
        repo_id=source.repo_id,
        filename=source.filename,
        revision=source.revision,
        repo_type=source.repo_type,
    )
    return Path(found) if isinstance(found, str) else None


def remove_cached(path: Path) -> None:
    """Delete a cached file: the blob the snapshot entry points at, then the entry itself."""
    blob = path.resolve()
    blob.unlink(missing_ok=True)
    if path.is_symlink() or path.exists():
        path.unlink(missing_ok=True)


def converted_is_current(path: Path, source_sha256: str) -> bool:
    if not path.is_file():
        return False
    try:
        return read_raw_metadata(path).get(SOURCE_SHA256_KEY) == source_sha256
    except CheckpointError:
        return False


def fetch_entry(entry: ModelEntry, registry: Registry, force: bool = False) -> FetchResult:
    """Make a hub model usable: download, verify, convert; do nothing if it already is."""
    source = entry.source
    if not isinstance(source, HubSource):
        raise UsageError(f"{entry.name} is not a Hub model (source: {source.type})")
    target = registry.local_path(entry)
    cached = None
    if not force:
        if target is not None and converted_is_current(target, source.sha256):
            return FetchResult(entry.name, "present", target, source.sha256, cached_hub_file(source))
        cached = verified_cached_file(source)
    # A verified cached file needs nothing more, unless it still has to be converted.
    status = "present" if target is None else "converted"
    if cached is None:
        cached = download_verified(source, entry.name, download_command(entry.name), force=force)
        status = "downloaded"
    if target is None:
        read_metadata(cached, architecture_of(entry.kind))
        return FetchResult(entry.name, status, cached, source.sha256, cached)
    convert(cached, target, entry, source)
    return FetchResult(entry.name, status, target, source.sha256, cached)


def verified_cached_file(source: HubSource) -> Path | None:
    """The cached file if it passes the hash check; a cached file that fails is removed."""
    cached = cached_hub_file(source)
    if cached is None:
        return None
    if file_sha256(cached) == source.sha256:
        return cached
    remove_cached(cached)
    return None


def download_verified(source: HubSource, label: str, fix: str, force: bool = False) -> Path:
    """hf_hub_download at the pinned revision, then the SHA-256 and size checks."""
    path = hub_download(source, label, fix, force)
    digest = file_sha256(path)
    size = path.stat().st_size
    if digest != source.sha256 or (source.size is not None and size != source.size):
        remove_cached(path)
        # An ad-hoc download pins only the hash.
        pinned = f"{source.size} bytes, " if source.size is not None else ""
        raise CheckpointError(
            f"{label}: the downloaded {source.filename} ({size} bytes, SHA-256 {digest}) is not the pinned file"
            f" ({pinned}SHA-256 {source.sha256}); it was deleted from the Hub cache and nothing was installed"
        )
    return path


@contextlib.contextmanager
def quiet_hub_retries() -> Iterator[None]:
    """huggingface_hub retries a failed request five times (about 25 s in all) and logs two
    lines per try; the one-line error after them says what went wrong and what to run."""
    # The library sets its logger to WARNING when its logging module is first imported, and
    # its lazy imports put that off until the first call: inside this block, after the level
    # below, on any path that has not touched the cache first. Imported here, it happens now.
    from huggingface_hub.utils import logging as _hub_logging  # noqa: F401

    logger = logging.getLogger("huggingface_hub")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def hub_download(source: HubSource, label: str, fix: str, force: bool) -> Path:
    where = f"{source.repo_type} {source.repo_id}@{source.revision}"
    try:
        with quiet_hub_retries():
            return Path(
                huggingface_hub.hf_hub_download(
                    repo_id=source.repo_id,
                    filename=source.filename,
                    repo_type=source.repo_type,
                    revision=source.revision,
                    force_download=force,
                )
            )
    except LocalEntryNotFoundError:
        if hub_constants.is_offline_mode():
            raise WeightsMissingError(
                f"{label}: offline mode (HF_HUB_OFFLINE) is on and {source.filename} is not in the Hub cache"
                f" ({hub_constants.HF_HUB_CACHE}); to fetch it run: HF_HUB_OFFLINE=0 {fix}"
            ) from None
        raise WeightsMissingError(
            f"{label}: cannot reach the Hugging Face Hub ({hub_constants.ENDPOINT}) and {source.filename} is not in"
            f" the Hub cache ({hub_constants.HF_HUB_CACHE}); when online, run: {fix}"
        ) from None
    except GatedRepoError:
        raise WeightsMissingError(
            f"{label}: {where} is gated; accept its terms on the Hub and set HF_TOKEN, then run: {fix}"
        ) from None
    except RepositoryNotFoundError:
        raise WeightsMissingError(
            f"{label}: {where} was not found on the Hub (or it is private: set HF_TOKEN), so it cannot be fetched"
        ) from None
    except RevisionNotFoundError:
        raise WeightsMissingError(f"{label}: revision {source.revision} of {where} does not exist") from None
    except EntryNotFoundError:
        raise WeightsMissingError(f"{label}: {source.filename} does not exist in {where}") from None
    except HfHubHTTPError as exc:
        raise WeightsMissingError(f"{label}: the Hub refused the download ({one_line(exc)}); retry: {fix}") from None
    except (OSError, TransportError) as exc:
        if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC):
            # Retrying cannot help: the cache is where the file would go.
            raise WeightsMissingError(
                f"{label}: cannot write to the Hugging Face cache ({hub_constants.HF_HUB_CACHE}):"
                f" {exc.strerror}; point HF_HOME at a writable folder with room, then run: {fix}"
            ) from None
        raise WeightsMissingError(f"{label}: the download failed ({one_line(exc)}); retry: {fix}") from None


def convert(cached: Path, target: Path, entry: ModelEntry, source: HubSource) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    metadata = {
        SOURCE_SHA256_KEY: source.sha256,
        "source_file": source.filename,
        "source_repo": f"{source.repo_type}:{source.repo_id}@{source.revision}",
        "model_name": entry.name,
    }
    importer.import_any(cached, target, config=entry.config, metadata=metadata, force=True, expect=entry.kind)


def fetch_adhoc(
    repo_id: str,
    filename: str,
    revision: str,
    repo_type: str = "model",
    name: str | None = None,
    sha256: str | None = None,
    force: bool = False,
) -> tuple[FetchResult, list[str]]:
    """Fetch a file that is not in the registry; returns the result and warnings to show.

    Without ``sha256`` nothing can be verified: the file's hash is reported so it can be
    pinned next time.
    """
    if sha256 is not None and not SHA256_HEX.match(sha256):
        # Checked before the download: a typo would otherwise cost the whole transfer.
        raise UsageError(f"--sha256 {sha256!r}: expected a SHA-256 hash, 64 hexadecimal digits")
    name = name or Path(filename).stem
    warnings = []
    if not COMMIT_HASH.match(revision):
        warnings.append(f"revision {revision!r} is a branch or tag, not a commit hash: the file can change under it")
    fix = f"vsrt download-weights --repo-id {repo_id} --repo-type {repo_type} --filename {filename} --revision {revision}"
    source = HubSource(
        repo_id=repo_id,
        filename=filename,
        revision=revision,
        sha256=(sha256 or "").lower(),
        size=None,
        repo_type=repo_type,
    )
    if sha256:
        path = download_verified(source, name, fix, force=force)
        digest = source.sha256
    else:
        path = hub_download(source, name, fix, force)
        digest = file_sha256(path)
        warnings.append(f"no --sha256 given, so the file was not verified; its SHA-256 is {digest}")
    if filename.endswith(".safetensors"):
        read_metadata(path, None)
        return FetchResult(name, "downloaded", path, digest, path), warnings
    target = user_weights_dir() / f"{name}.safetensors"
    target.parent.mkdir(parents=True, exist_ok=True)
    metadata = {SOURCE_SHA256_KEY: digest, "source_file": filename, "source_repo": f"{repo_type}:{repo_id}@{revision}"}
    report = importer.import_any(path, target, metadata=metadata, force=True)
    warnings.extend(report.assumptions)
    return FetchResult(name, "downloaded", target, digest, path), warnings


def resolve_hub_entry(entry: ModelEntry, registry: Registry) -> Path:
    """The usable file of a hub model, offline; WeightsMissingError says how to fetch it."""
    source = entry.source
    assert isinstance(source, HubSource)
    fix = download_command(entry.name)
    target = registry.local_path(entry)
    if target is not None:
        if converted_is_current(target, source.sha256):
            return target
        state = "is out of date" if target.exists() else "is not downloaded"
        raise WeightsMissingError(f"model {entry.name} {state}; run: {fix}")
    cached = cached_hub_file(source)
    if cached is None:
        raise WeightsMissingError(f"model {entry.name} is not downloaded; run: {fix}")
    if file_sha256(cached) != source.sha256:
        raise CheckpointError(
            f"model {entry.name}: the cached {cached} fails its SHA-256 check; run `{fix}` to replace it"
        )
    return cached


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
