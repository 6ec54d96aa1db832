"""Which code made an output: the library's version and, in a git checkout, its commit.

A run folder records ``code_version()`` in its ``config.json``, so runs made before and
after a change in what a setting means can be told apart (``training.run_folder``).
"""

from __future__ import annotations

import functools
import pathlib
import subprocess

import ganet_jax

_PACKAGE = pathlib.Path(__file__).resolve().parent


@functools.lru_cache(maxsize=None)
def code_version() -> dict[str, str | bool | None]:
  """The library's version, and the git commit of its source when it runs from a checkout.

  Returns:
    ``{'library_version': ganet_jax.__version__, 'git_commit': the 40-hex commit or None,
    'git_modified': whether tracked files differ from that commit, or None}``: None where
    the library is not in a git checkout (an installed wheel) or git is not installed.
    Read once per process.
  """
  # the package's own files must be tracked: an installed copy inside some other project's
  # checkout (a virtual environment in it) is not that project's commit
  tracked = _git('ls-files', '--error-unmatch', '__init__.py') is not None
  commit = _git('rev-parse', 'HEAD') if tracked else None
  # --untracked-files=no: a run folder or a notebook beside the code is not a change of the code
  status = None if commit is None else _git('status', '--porcelain', '--untracked-files=no')
  return {'library_version': ganet_jax.__version__, 'git_commit': commit,
          'git_modified': None if status is None else bool(status)}


def version_tuple(version: str) -> tuple[int, ...]:
  """``'0.2.0'`` -> ``(0, 2, 0)``: release numbers compare as tuples, not as text ('0.10' > '0.9').

  Raises:
    ValueError: a version that is not dot-separated integers.
  """
  try:
    return tuple(int(part) for part in version.split('.'))
  except ValueError:
    raise ValueError(f'library version {version!r} is not dot-separated integers') from None


def _git(*args: str) -> str | None:
  """git's stripped output for ``args`` run in the package's folder; None outside a checkout or without git."""
  try:
    done = subprocess.run(['git', *args], cwd=_PACKAGE, capture_output=True, text=True, timeout=10, check=False)
  except (OSError, subprocess.SubprocessError):
    return None
  return done.stdout.strip() if done.returncode == 0 else None
