"""Where the binaries keep compiled programs by default."""

import os
import pathlib
import subprocess
import sys

from ganet_jax.compilation_cache import ENV_VAR, default_folder

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_default_folder_follows_the_variable_then_xdg_then_home(monkeypatch, tmp_path):
  monkeypatch.setenv(ENV_VAR, str(tmp_path / 'mine'))
  assert default_folder() == str(tmp_path / 'mine')
  monkeypatch.setenv(ENV_VAR, '')
  assert default_folder() == ''  # set but empty: no cache
  monkeypatch.delenv(ENV_VAR)
  monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
  assert default_folder() == str(tmp_path / 'xdg' / 'ganet_jax' / 'xla')
  monkeypatch.delenv('XDG_CACHE_HOME')
  monkeypatch.setenv('HOME', str(tmp_path / 'home'))
  assert pathlib.Path(default_folder()) == tmp_path / 'home' / '.cache' / 'ganet_jax' / 'xla'


def _fresh_python(code: str) -> str:
  result = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env={**os.environ, 'PYTHONPATH': str(ROOT)},
                          capture_output=True, text=True, check=True, timeout=120)
  return result.stdout.strip()


def test_a_cache_chosen_before_jax_loads_is_the_one_jax_uses(tmp_path):
  printed = _fresh_python(
      'import sys; from ganet_jax.compilation_cache import use_compilation_cache; '
      f'use_compilation_cache({str(tmp_path / "xla")!r}); print("jax" in sys.modules); import jax; '
      'print(jax.config.jax_compilation_cache_dir, jax.config.jax_persistent_cache_min_compile_time_secs, '
      'jax.config.jax_persistent_cache_min_entry_size_bytes)')
  assert printed.splitlines() == ['False', f'{tmp_path / "xla"} 0.0 0']

