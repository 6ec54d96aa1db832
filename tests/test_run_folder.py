"""A run folder's config.json and epochs.jsonl: fingerprints, the resume check, the kept history."""

import hashlib
import json

import numpy as np
import pytest

from ganet_jax.data.records import RecordSet
from ganet_jax.training import run_folder


def _records(labels=(0, 1, 0)):
  n = len(labels)
  return RecordSet(np.zeros((n, 8, 3), np.float32), np.asarray(labels, np.int32), np.array([f'e{i}' for i in range(n)]),
                   np.full(n, np.datetime64('2015-01-01', 'ms')), np.array(['earthquake'] * n),
                   np.array([f'r{i}' for i in range(n)]))


def test_fingerprint_covers_ids_labels_and_extra_content():
  records = _records()
  expected = hashlib.sha256(b'r0\nr1\nr2' + b'0\n1\n0').hexdigest()[:16]
  assert run_folder.fingerprint(records) == expected
  assert run_folder.fingerprint(records, columns=('record_ids',)) == hashlib.sha256(b'r0\nr1\nr2').hexdigest()[:16]
  assert run_folder.fingerprint(_records((0, 1, 1))) != expected
  with_extra = run_folder.fingerprint(records, extra={'bandpass': [1.0, 20.0]})
  assert with_extra != expected
  assert with_extra == run_folder.fingerprint(records, extra={'bandpass': (1.0, 20.0)})
  assert with_extra != run_folder.fingerprint(records, extra={'bandpass': [2.0, 20.0]})
  assert run_folder.fingerprint(None) is None


def test_settings_are_written_once_then_checked(tmp_path):
  settings = {'config': {'seed': 0, 'scale_range': (1.0, 2.0)}, 'data': {'train': 'abc'}}
  run_folder.write_or_check_settings(tmp_path, settings)
  assert json.loads((tmp_path / 'config.json').read_text())['config']['scale_range'] == [1.0, 2.0]
  run_folder.write_or_check_settings(tmp_path, settings)  # the same settings resume
  with pytest.raises(ValueError, match=r'other settings or data \(config.seed: 0 -> 1; data.train: .abc. -> .xyz. in '):
    run_folder.write_or_check_settings(tmp_path, {'config': {**settings['config'], 'seed': 1}, 'data': {'train': 'xyz'}})
  # a field added since the folder was written reads as its default, and only then
  added = {'config': {**settings['config'], 'new_field': 3}, 'data': settings['data']}
  run_folder.write_or_check_settings(tmp_path, added, config_defaults={'new_field': 3})
  with pytest.raises(ValueError, match=r'config.new_field: None -> 3'):
    run_folder.write_or_check_settings(tmp_path, added)


def test_a_field_added_inside_a_mapping_reads_as_its_default(tmp_path):
  old = {'config': {'seed': 0, 'augmentation': {'max_shift_s': 3.0}}, 'data': {}}
  run_folder.write_or_check_settings(tmp_path, old)
  defaults = {'seed': 0, 'augmentation': {'max_shift_s': 0.0, 'response_probability': 0.0}}
  grown = {'config': {'seed': 0, 'augmentation': {'max_shift_s': 3.0, 'response_probability': 0.0}}, 'data': {}}
  run_folder.write_or_check_settings(tmp_path, grown, config_defaults=defaults)
  run_folder.write_or_check_settings(tmp_path, old, config_defaults=defaults)  # a partial mapping, as written
  changed = {'config': {'seed': 0, 'augmentation': {'max_shift_s': 3.0, 'response_probability': 0.5}}, 'data': {}}
  with pytest.raises(ValueError, match=r'config.augmentation.response_probability: 0.0 -> 0.5'):
    run_folder.write_or_check_settings(tmp_path, changed, config_defaults=defaults)


def test_the_code_is_recorded_and_only_a_change_of_meaning_in_use_refuses(tmp_path, monkeypatch):
  from ganet_jax import provenance
  changes = (('0.2.0', 'smoothing', 'now applied'),)
  settings = lambda value: {'config': {'seed': 0, 'smoothing': value}, 'data': {}}
  monkeypatch.setattr(provenance, 'code_version', lambda: {'library_version': '0.1.5', 'git_commit': 'a' * 40,
                                                           'git_modified': False})
  for value in (0.0, 0.1):
    (tmp_path / str(value)).mkdir()
    run_folder.write_or_check_settings(tmp_path / str(value), settings(value), config_defaults={'smoothing': 0.0},
                                       meaning_changes=changes)
  assert json.loads((tmp_path / '0.1' / 'config.json').read_text())['code']['git_commit'] == 'a' * 40
  monkeypatch.setattr(provenance, 'code_version', lambda: {'library_version': '0.2.0', 'git_commit': 'b' * 40,
                                                           'git_modified': True})
  check = lambda value: run_folder.write_or_check_settings(tmp_path / str(value), settings(value),
                                                           config_defaults={'smoothing': 0.0}, meaning_changes=changes)
  check(0.0)  # other code, but the changed setting is off: the result would not change
  with pytest.raises(ValueError, match=r'made by ganet_jax 0.1.5 with --config.smoothing=0.1, which means something '
                                       r'else since 0.2.0 \(now applied\)'):
    check(0.1)
  # the record stays that of the code that made the folder
  assert json.loads((tmp_path / '0.0' / 'config.json').read_text())['code']['library_version'] == '0.1.5'


def test_version_numbers_compare_as_numbers():
  from ganet_jax.provenance import version_tuple
  assert version_tuple('0.10.0') > version_tuple('0.9.1')
  with pytest.raises(ValueError, match="'0.2.dev1' is not dot-separated integers"):
    version_tuple('0.2.dev1')


def test_history_keeps_the_epochs_up_to_the_checkpoint(tmp_path):
  run_folder.write_history(tmp_path, [{'epoch': e, 'loss': float('nan') if e == 2 else 0.5} for e in (1, 2, 3)])
  kept = run_folder.read_history(tmp_path, through_epoch=2)
  assert [h['epoch'] for h in kept] == [1, 2] and kept[1]['loss'] is None
  assert run_folder.read_history(tmp_path / 'absent', through_epoch=5) == []
