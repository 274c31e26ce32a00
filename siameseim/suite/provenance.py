"""Where every number of a suite run comes from: weights hashes, configs, software, hardware, date.

``results.json`` keeps, per checkpoint, the sha256 of its file (:func:`file_sha256`, streamed and cached by
path, size and mtime so a re-run does not re-read gigabytes), its detected format and architecture; per run
(:func:`run_provenance`), the date, the checkout's git commit, the library versions, Python and the host's
CPU/GPU. :func:`check_same_checkpoint` refuses to merge results of a different file under a known name.
"""
import datetime
import hashlib
import json
import os
import os.path as osp
import platform
import subprocess
import sys
from typing import Dict, List, Mapping, Optional

import torch

from ..atomic import write_text_atomically

HASH_CACHE = '.sha256_cache.json'
# Import name -> distribution name of the libraries whose versions a run records.
LIBRARIES = {'torch': 'torch', 'mmengine': 'mmengine', 'mmcv': 'mmcv', 'mmdet': 'mmdet', 'mmseg': 'mmsegmentation',
             'timm': 'timm', 'numpy': 'numpy'}
_CHUNK = 1 << 20


def _read_json(path: str) -> dict:
    try:
        with open(path) as f:
            content = json.load(f)
        return content if isinstance(content, dict) else {}
    except (OSError, ValueError):
        return {}


def file_sha256(path: str, cache_dir: Optional[str] = None) -> str:
    """Hex sha256 of the file at ``path``, read in 1 MiB chunks (of a folder, e.g. a Hugging Face model: of its
    files' relative names and contents, in name order); with ``cache_dir``, remembered there under (absolute
    path, size, mtime of every file) and reused while those are unchanged."""
    files = sorted(osp.join(root, name) for root, _, names in os.walk(path) for name in names) \
        if osp.isdir(path) else [path]
    stats = [os.stat(file) for file in files]
    key = f'{osp.abspath(path)}|' + '|'.join(f'{stat.st_size}|{stat.st_mtime_ns}' for stat in stats)
    cache_path = osp.join(cache_dir, HASH_CACHE) if cache_dir else None
    cache = _read_json(cache_path) if cache_path else {}
    if key in cache:
        return cache[key]
    digest = hashlib.sha256()
    for file in files:
        if file != path:
            digest.update(osp.relpath(file, path).encode() + b'\0')
        with open(file, 'rb') as f:
            for chunk in iter(lambda: f.read(_CHUNK), b''):
                digest.update(chunk)
    if cache_path:
        cache[key] = digest.hexdigest()
        write_text_atomically(cache_path, json.dumps(cache, indent=1))
    return digest.hexdigest()


def checkpoint_provenance(path: Optional[str], cache_dir: Optional[str] = None) -> Dict[str, object]:
    """``{'sha256', 'format', 'detected_arch'}`` of a checkpoint file or model folder (all None for random
    initialisation)."""
    if path is None:
        return dict(sha256=None, format=None, detected_arch=None)
    from ..checkpoint import read_checkpoint, to_canonical

    _, metadata = to_canonical(read_checkpoint(path))
    arch = metadata['arch']
    return dict(sha256=file_sha256(path, cache_dir), format=metadata['format'],
                detected_arch={key: arch[key] for key in ('embed_dim', 'depth', 'num_heads', 'patch_size')
                               if key in arch})


def check_same_checkpoint(name: str, recorded: Mapping, path: Optional[str], sha256: Optional[str]) -> None:
    """Raise ValueError when ``results.json`` holds ``name`` from another file than ``path`` (by content hash;
    by path for entries written before hashes were recorded)."""
    if not recorded:
        return
    if 'sha256' in recorded:
        same = recorded['sha256'] == sha256
    else:
        same = recorded.get('path') == path
    if not same:
        old = recorded.get('path') or 'random init'
        raise ValueError(f'results.json already holds {name!r} from a different checkpoint ({old}, sha256 '
                         f'{str(recorded.get("sha256"))[:12]}): give this one another NAME or use another --out')


def git_commit(repo: str) -> Optional[str]:
    """``git describe``-style commit of ``repo`` (``+dirty`` with uncommitted changes); None outside git."""
    try:
        commit = subprocess.run(['git', '-C', repo, 'rev-parse', 'HEAD'], capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(['git', '-C', repo, 'status', '--porcelain', '--untracked-files=no'],
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ('+dirty' if dirty else '')


def library_versions() -> Dict[str, Optional[str]]:
    """Installed version of each of :data:`LIBRARIES` (None when absent)."""
    from importlib import metadata

    versions = {}
    for name, distribution in LIBRARIES.items():
        try:
            versions[name] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo`` on Linux, else the platform's processor string)."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: str) -> str:
    """Human name of a torch device string: the GPU model for CUDA, the CPU model otherwise."""
    if device.startswith('cuda') and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return f'{cpu_name()} ({os.cpu_count()} logical cores)'


def run_provenance(repo: str) -> Dict[str, object]:
    """Date, code version, libraries, Python and hardware of this run."""
    from importlib import metadata

    try:
        installed = metadata.version('siameseim-suite')
    except metadata.PackageNotFoundError:
        installed = None
    gpus: List[str] = [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]
    return dict(date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
                git_commit=git_commit(repo), version=installed, python=sys.version.split()[0],
                libraries=library_versions(), platform=platform.platform(), cpu=cpu_name(),
                cpu_count=os.cpu_count(), gpus=gpus)


def provenance_footer(results: Mapping) -> str:
    """A short Markdown footer: the runs behind the table and the weights hash of every checkpoint."""
    runs = results.get('runs', [])
    if not runs:
        return ''
    lines = ['', '**Provenance**', '']
    for index, run in enumerate(runs):
        libraries = ', '.join(f'{name} {version}' for name, version in run['libraries'].items() if version)
        code = run['git_commit'] or f"siameseim {run['version']}"
        hardware = ', '.join(run['gpus']) or f"{run['cpu']} ({run['cpu_count']} cores)"
        lines.append(f"- run {index}: {run['date']}, code {code}, Python {run['python']}, {libraries}; "
                     f'{hardware}')
    for name, entry in results.get('checkpoints', {}).items():
        sha = entry.get('sha256')
        weights = f"sha256 {sha[:16]}…, {entry.get('format')}" if sha else 'random initialisation'
        lines.append(f"- {name}: {entry.get('path') or '—'} ({weights})")
    lines.append('')
    lines.append('Full details (configs with their sha256, seeds, devices, load reports): results.json.')
    return '\n'.join(lines) + '\n'
