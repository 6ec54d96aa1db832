"""Where the binaries keep compiled programs by default."""

import pathlib

from ganet_jax.compilation_cache import ENV_VAR, default_folder


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
