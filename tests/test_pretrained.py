"""Pretrained ensembles: inference-only export of run folders, loaded in one line."""

import json
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from ganet_jax import pretrained
from ganet_jax.classify import Classifier, export_pretrained


@pytest.fixture(scope='module')
def exported(tiny_run, tmp_path_factory):
  """A two-member export: the tiny run and a copy (the members' files and the vmapped path, not their values)."""
  copy = tmp_path_factory.mktemp('runs') / 'copy'
  shutil.copytree(tiny_run, copy)
  folder = tmp_path_factory.mktemp('pretrained') / 'tiny'
  return export_pretrained([tiny_run, copy], folder, components='Z', description='tiny synthetic test run')


def test_round_trip_gives_the_run_folders_probabilities(tiny_run, exported):
  from_run = Classifier.from_checkpoint(tiny_run, components='Z')
  loaded = Classifier.pretrained(str(exported))
  assert [m.name for m in loaded.members] == [tiny_run.name, 'copy'] and len(loaded._groups) == 1
  assert loaded.components == 'Z' and loaded.threshold == from_run.threshold
  assert loaded.options == from_run.options  # same window length and signal chain
  samples = from_run.options.preprocess.window_samples
  windows = np.random.default_rng(0).normal(size=(6, samples, 3)).astype(np.float32)
  np.testing.assert_allclose(loaded.member_probabilities(windows),
                             np.repeat(from_run.member_probabilities(windows), 2, axis=0), atol=1e-6)
  for a, b in zip(jax.tree.leaves(loaded.members[0].variables), jax.tree.leaves(from_run.members[0].variables)):
    np.testing.assert_array_equal(a, b)


def test_the_card_describes_and_the_files_hold_inference_variables_only(tiny_run, exported):
  card = json.loads((exported / pretrained.CARD_FILE).read_text())
  saved = json.loads((tiny_run / 'config.json').read_text())
  assert card['input_shape'] == saved['data']['input_shape'] and card['preprocessing'] == saved['data']['preprocessing']
  assert card['description'] == 'tiny synthetic test run' and card['components'] == 'Z'
  member = card['members'][0]
  assert [m['file'] for m in card['members']] == ['member_0.msgpack', 'member_1.msgpack']
  assert member['model'] == {'name': saved['config']['model'], 'overrides': saved['config']['model_overrides']}
  assert member['seed'] == saved['config']['seed'] and member['data']['train'] == saved['data']['train']
  variables = Classifier.from_checkpoint(tiny_run).members[0].variables
  assert set(variables) == {'params', 'batch_stats'}
  payload = sum(np.asarray(leaf).nbytes for leaf in jax.tree.leaves(variables))
  size = (exported / member['file']).stat().st_size
  assert payload <= size < payload * 1.1 + 4096  # float32 variables plus msgpack framing: no optimizer moments
  assert sorted(p.name for p in exported.iterdir()) == ['card.json', 'member_0.msgpack', 'member_1.msgpack']


def test_shipped_names_load_by_name_and_unknown_names_list_them(exported, monkeypatch, tmp_path):
  monkeypatch.setattr(pretrained, 'PRETRAINED_ROOT', exported.parent)
  assert pretrained.available() == ['tiny']
  assert Classifier.pretrained('tiny').source == str(exported)
  with pytest.raises(ValueError, match="no pretrained ensemble 'pnw'; shipped: tiny"):
    Classifier.pretrained('pnw')


def test_export_refuses_to_replace_and_a_damaged_member_is_named(tiny_run, exported, tmp_path):
  with pytest.raises(ValueError, match='exists; pass overwrite'):
    export_pretrained(tiny_run, exported)
  copy = tmp_path / 'copy'
  export_pretrained(tiny_run, copy)
  data = bytearray((copy / 'member_0.msgpack').read_bytes())
  data[-1] ^= 0xFF
  (copy / 'member_0.msgpack').write_bytes(bytes(data))
  with pytest.raises(ValueError, match='member_0.msgpack: damaged'):
    Classifier.pretrained(str(copy))


def test_cli_exports_and_classify_takes_it(tiny_run, tmp_path):
  destination = tmp_path / 'cli'
  subprocess.run([sys.executable, '-m', 'experiments.export_pretrained', f'--checkpoint={tiny_run}',
                  f'--destination={destination}', '--components=Z'], check=True, capture_output=True)
  assert (destination / pretrained.CARD_FILE).is_file()
  from experiments import classify as classify_cli
  empty = tmp_path / 'empty'
  empty.mkdir()
  with pytest.raises(FileNotFoundError, match='no waveform files'):  # loaded; then the inputs are looked at
    classify_cli.classify(None, [str(empty)], None, tmp_path / 'p.csv', pretrained=str(destination))
  with pytest.raises(ValueError, match='no pretrained ensemble'):
    classify_cli.classify(None, [str(empty)], None, tmp_path / 'p.csv', pretrained='nonexistent')


def test_package_data_ships_every_file_an_export_writes(exported):
  import configparser
  import fnmatch
  import pathlib
  setup = configparser.ConfigParser()
  setup.read(pathlib.Path(__file__).resolve().parents[1] / 'setup.cfg')
  patterns = setup['options.package_data']['ganet_jax.pretrained'].split()
  for path in exported.iterdir():
    relative = f'{exported.name}/{path.name}'  # as it would lie under ganet_jax/pretrained/
    assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative
