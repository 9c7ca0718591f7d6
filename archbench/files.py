"""Every file archbench reads or writes goes through here.

Why one place: an unreadable spec, a binary file given as a spec, a results folder without
write permission or an output whose parent does not exist are user mistakes, and each must
become one :class:`FileError` naming the path, never a ``PermissionError`` or
``UnicodeDecodeError`` traceback. Outputs are checked with :func:`check_output` *before* the
work that produces them starts, so an hour of profiling is never lost to a typo in ``--out``.
Writes are atomic (temporary file, then rename), so an interrupt never leaves half a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from .errors import ArchbenchError


class FileError(ArchbenchError):
    """A file or folder cannot be read or written (permissions, missing parent, not text)."""


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def read_text(path: str | Path, what: str = "file") -> str:
    """The UTF-8 text of ``path``; a missing, unreadable or binary file is a :class:`FileError`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise FileError(f"{path}: is a folder, expected a {what}") from None
    except FileNotFoundError:
        raise FileError(f"{path}: no such {what}") from None
    except OSError as exc:
        raise FileError(f"{path}: cannot read the {what}: {_reason(exc)}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileError(f"{path}: not a UTF-8 text {what} (byte {exc.start} is 0x{data[exc.start]:02x}); "
                        "is it a binary file?") from None


def _umask() -> int:
    """The process's umask, read without changing it where Linux tells it (``os.umask`` can only
    be read by setting it, which races with other threads creating files)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _new_file_mode(path: Path) -> int:
    """The mode ``open(path, "w")`` would leave: an existing file keeps its own, a new one gets
    0o666 less the umask. ``mkstemp`` creates its file 0o600, private to its owner, which is
    right for a temporary file but not for a table or checkpoint renamed over ``path``."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file next to ``path`` and rename it over ``path`` when the block ends
    without an exception (an interrupt or error leaves the old file, or none, never half a file)."""
    path = Path(path)
    ensure_dir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise FileError(f"{path}: cannot write: {_reason(exc)}") from None
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            os.fchmod(f.fileno(), _new_file_mode(path))
            yield f
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):  # disk full, quota, ``path`` is a folder: the user's to fix
            raise FileError(f"{path}: cannot write: {_reason(exc)}") from None
        raise


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; OS errors become a :class:`FileError`."""
    path = Path(path)
    with atomic_open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def remove(path: str | Path) -> None:
    """Delete the file ``path`` if it exists (a stale output); OS errors become a :class:`FileError`."""
    path = Path(path)
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise FileError(f"{path}: cannot delete the stale file: {_reason(exc)}") from None


def check_file(path: str | Path, what: str = "file") -> Path:
    """Check that ``path`` is, or can be created as, a regular file that can be read and
    appended to (a journal that others' libraries open themselves, so their OS errors would
    otherwise surface as tracebacks halfway through the work)."""
    path = Path(path)
    if path.exists():
        if not path.is_file():
            raise FileError(f"{path}: is not a regular file, expected a {what}")
        if not os.access(path, os.R_OK | os.W_OK):
            raise FileError(f"{path}: the {what} cannot be read and written (permission denied)")
    else:
        ensure_dir(path.parent)
    return path


def ensure_dir(folder: str | Path, create_parents: bool = True) -> Path:
    """Create ``folder`` (and, when ``create_parents``, its parents); refuse what cannot be written."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise FileError(f"{folder}: exists and is not a folder")
    if not create_parents and not folder.parent.is_dir():
        raise FileError(f"{folder}: its parent folder {folder.parent} does not exist")
    try:
        folder.mkdir(parents=create_parents, exist_ok=True)
    except OSError as exc:
        raise FileError(f"{folder}: cannot create the folder: {_reason(exc)}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise FileError(f"{folder}: the folder is not writable")
    return folder


def check_output(path: str | Path, suffixes: Iterable[str] | None = None, option: str = "--out") -> Path:
    """Check, before any work, that ``path`` can be written: a supported suffix, an existing
    writable parent folder (never created silently: a typo in a folder name should not
    become a new folder tree) and not a folder itself."""
    path = Path(path)
    if path.is_dir():
        raise FileError(f"{option} {path}: is a folder, expected a file name")
    if suffixes is not None:
        allowed = tuple(suffixes)
        if path.suffix.lower() not in allowed:
            raise FileError(f"{option} {path}: unknown format {path.suffix or '(no extension)'!r}; "
                            f"expected one of: {', '.join(allowed)}")
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise FileError(f"{option} {path}: the folder {parent} does not exist (it is a file)")
    if not parent.is_dir():
        raise FileError(f"{option} {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise FileError(f"{option} {path}: cannot write there (permission denied)")
    return path


def check_output_dir(folder: str | Path, option: str = "--out") -> Path:
    """Check that ``folder`` is, or can be created as, a writable folder, before any work."""
    folder = Path(folder)
    if folder.exists():
        if not folder.is_dir():
            raise FileError(f"{option} {folder}: exists and is not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise FileError(f"{option} {folder}: the folder is not writable")
        return folder
    existing = next((p for p in folder.absolute().parents if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise FileError(f"{option} {folder}: cannot create the folder ({existing} is not a writable folder)")
    return folder


NETWORK_FILESYSTEMS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "fuse.sshfs", "afs", "ceph", "glusterfs", "lustre")


def is_network_filesystem(path: str | Path, mounts_text: str | None = None) -> str | None:
    """The file-system type (``nfs``, ``cifs``, ...) when ``path`` lies on a network file
    system, else None. Read from /proc/mounts (Linux; ``mounts_text`` replaces it in tests);
    elsewhere always None."""
    try:
        mounts = (mounts_text if mounts_text is not None else Path("/proc/mounts").read_text()).splitlines()
    except OSError:
        return None
    target = Path(os.path.realpath(path))  # symlinks resolved; the path need not exist yet
    best: tuple[int, str] | None = None
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        mount = parts[1].replace("\\040", " ")
        if target == Path(mount) or Path(mount) in target.parents:
            if best is None or len(mount) > best[0]:
                best = (len(mount), parts[2])
    return best[1] if best and best[1] in NETWORK_FILESYSTEMS else None
