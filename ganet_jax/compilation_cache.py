"""The persistent XLA compilation cache: compiled programs kept on disk for later processes.

Every run builds its model anew, so without it each seed, each resumed run and each
rerun of a binary compiles the same programs again: on a CPU that is ~30 s of the
default GA-Net's run (the training step alone ~14 s). The cache is keyed by the
program, the compiler and its flags, so only identical programs hit it.
"""

from __future__ import annotations

import os
import pathlib
import sys

ENV_VAR = 'GANET_JAX_COMPILATION_CACHE'


def default_folder() -> str:
  """``$GANET_JAX_COMPILATION_CACHE`` if set (empty: no cache), else ``$XDG_CACHE_HOME/ganet_jax/xla``.

  (``~/.cache/ganet_jax/xla`` without ``XDG_CACHE_HOME``.) One folder per user, so the
  binaries, studies and cross-validations of one machine share their compiles.
  """
  if ENV_VAR in os.environ:
    return os.environ[ENV_VAR]
  base = os.environ.get('XDG_CACHE_HOME') or pathlib.Path.home() / '.cache'
  return str(pathlib.Path(base) / 'ganet_jax' / 'xla')


def use_compilation_cache(path: str | pathlib.Path) -> None:
  """Keep compiled XLA programs in ``path`` for the rest of the process and later ones.

  Every program is kept, however quick its compile: a short CPU run compiles ~85,
  most of them small, and together they cost seconds. Call it before anything is
  compiled; programs compiled earlier are not written.
  """
  pathlib.Path(path).mkdir(parents=True, exist_ok=True)
  settings = {'jax_compilation_cache_dir': str(path), 'jax_persistent_cache_min_compile_time_secs': 0.0,
              'jax_persistent_cache_min_entry_size_bytes': 0}
  if 'jax' in sys.modules:
    for name, value in settings.items():
      sys.modules['jax'].config.update(name, value)
  else:
    # JAX reads its settings from the environment when it is first imported, so a process that
    # never needs it (one that only prepares records) does not load it here
    os.environ.update({name.upper(): str(value) for name, value in settings.items()})
