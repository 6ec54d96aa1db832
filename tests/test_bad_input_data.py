"""Inputs that used to pass silently with wrong data: wrong event, mixed records, wrong trace.

Each test builds its input from copies of ../shared/data files (eus-sac: SAC headers
with origin, P arrival and coordinates; dprk: 3-component SAC records) and checks
that the record is either prepared from the right data or rejected with its reason.
"""

import csv
import pathlib
import shutil

import numpy as np
import obspy
import pytest
from obspy.core.event import Catalog, Event, Origin, ResourceIdentifier

from ganet_jax.data import catalog as catalog_lib
from ganet_jax.data import ingest
from ganet_jax.data import records_table
from ganet_jax.data.preprocess import PreprocessConfig
from ganet_jax.errors import RecordRejected

EQ_BIRD = 'EQ/20170216020021.CO.BIRD.HHZ.SAC'
EQ_HAW = 'EQ/20170216020021.CO.HAW.HHZ.SAC'
EP_BIRD = 'EP/20150623030000.CO.BIRD.HHZ.SAC'
# Far stations are fine here: these tests are about which data a record holds.
NO_DISTANCE_LIMIT = ingest.PrepareOptions(preprocess=PreprocessConfig(max_distance_km=None, max_pad_s=40))


def _write_table(path, rows):
  with open(path, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
  return path


def _copy(shared_data, folder, name, new_name=None, **stats):
  """A copy of an eus-sac file in ``folder`` (SAC), with ``stats`` (e.g. channel) changed."""
  trace = obspy.read(str(shared_data / 'eus-sac' / name))[0]
  for key, value in stats.items():
    setattr(trace.stats, key, value)
  path = folder / (new_name or pathlib.Path(name).name)
  trace.write(str(path), format='SAC')
  return path


def _sac_origin(path):
  trace = obspy.read(str(path), headonly=True)[0]
  return trace.stats.starttime - float(trace.stats.sac.b) + float(trace.stats.sac.o)


# Catalog ids are whole ids, and the event must fit the record's time.

def _catalog(tmp_path, origin):
  """Event 12: a quarry blast 35 days before ``origin``; event 2: an earthquake at ``origin``."""
  events = [Event(resource_id=ResourceIdentifier('smi:local/event/12'), event_type='quarry blast',
                  origins=[Origin(time=origin - 35 * 86400)]),
            Event(resource_id=ResourceIdentifier('smi:local/event/2'), event_type='earthquake',
                  origins=[Origin(time=origin)])]
  Catalog(events).write(str(tmp_path / 'catalog.xml'), format='QUAKEML')
  return catalog_lib.read_catalog(str(tmp_path / 'catalog.xml'))


def test_catalog_event_id_is_not_matched_by_its_suffix(shared_data, tmp_path):
  path = _copy(shared_data, tmp_path, EQ_BIRD)
  events = _catalog(tmp_path, _sac_origin(path))
  table = _write_table(tmp_path / 'files.csv', [{'file': path.name, 'event_id': '2', 'label': ''},
                                                {'file': path.name, 'event_id': '12', 'label': ''}])
  records = records_table.read_records_table(table)
  options = ingest.PrepareOptions(preprocess=NO_DISTANCE_LIMIT.preprocess, catalog=events)
  right = ingest.prepare_record(records[0], options)
  assert right.event_type == 'earthquake' and right.label == 0
  # Event 12 exists but happened 35 days before this record: a rejection naming both times.
  with pytest.raises(RecordRejected, match=r"event id '12' is catalog event smi:local/event/12 with origin "
                                           r'2017-01-12.* but the record gives origin 2017-02-16'):
    ingest.prepare_record(records[1], options)


def test_catalog_event_found_by_id_must_lie_inside_a_record_without_origin(shared_data, tmp_path):
  origin = _sac_origin(shared_data / 'eus-sac' / EQ_BIRD)
  events = _catalog(tmp_path, origin)
  span = (origin - 10, origin + 70)
  assert catalog_lib.find_event(events, '2', None, span).event_id == 'smi:local/event/2'
  assert catalog_lib.find_event(events, 'smi:local/event/2', None, span).event_id == 'smi:local/event/2'
  with pytest.raises(RecordRejected, match='outside the record'):
    catalog_lib.find_event(events, '12', None, span)
  assert catalog_lib.short_ids('quakeml:uw.anss.org/Event/UW/61348817') >= {'61348817', 'uw61348817'}
  assert '2' not in catalog_lib.short_ids('smi:local/event/12')
