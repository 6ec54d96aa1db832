"""Data parallelism with ``jax.sharding``: one mesh axis over devices, batches split on it.

The train and evaluation steps stay ordinary ``jax.jit`` functions: placing the
batch with ``NamedSharding(mesh, P('data'))`` and the state replicated is all
XLA needs to partition them (GSPMD). Reductions inside the model, BatchNorm's
batch mean and variance included, are over the GLOBAL batch, exactly as on one
device; the gradient all-reduce is inserted by the compiler.

Multi-host: call ``initialize_distributed`` before anything touches a device;
``jax.devices()`` then lists every process's devices and the same mesh code spans
hosts (each process feeds its own slice of the batch, see
``jax.make_array_from_process_local_data``).
"""

from __future__ import annotations

import math
import os
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = 'data'


def data_mesh(num_devices: int | None = None) -> Mesh:
  """A 1-D mesh named 'data' over the first ``num_devices`` devices (all when None).

  Raises:
    ValueError: naming the request and the devices available.
  """
  devices = jax.devices()
  if num_devices is None:
    num_devices = len(devices)
  if not 1 <= num_devices <= len(devices):
    raise ValueError(f'num_devices={num_devices} but {len(devices)} '
                     f'{devices[0].platform} device(s) are visible')
  return Mesh(np.asarray(devices[:num_devices]), (DATA_AXIS,))


def run_mesh(num_devices: int | None, batch_size: int) -> Mesh | None:
  """The data-parallel mesh of a run; None for a single device.

  Args:
    num_devices: devices to spread each batch over; None: every accelerator visible
      (as many as divide ``batch_size``), or one device on CPU, where "devices" share
      the same cores and splitting only adds overhead.
    batch_size: records per step.

  Raises:
    ValueError: naming the request and the devices available.
  """
  if num_devices is None:
    num_devices = 1 if jax.default_backend() == 'cpu' else jax.device_count()
    num_devices = math.gcd(num_devices, batch_size)
  return data_mesh(num_devices) if num_devices > 1 else None


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis split over the 'data' axis, the rest whole."""
  return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  """Every device holds the whole array (parameters, optimizer state)."""
  return NamedSharding(mesh, PartitionSpec())


def shard_batch(batch: Any, mesh: Mesh) -> Any:
  """Place every array of ``batch`` with its leading axis split across the mesh.

  Raises:
    ValueError: when a leading axis does not divide by the device count (pad
      the batch first; the training and evaluation loops do).
  """
  size = mesh.devices.size
  for leaf in jax.tree.leaves(batch):
    if leaf.shape[0] % size:
      raise ValueError(f'batch axis of {leaf.shape[0]} does not divide over {size} devices; '
                       f'use a batch size that is a multiple of {size}')
  return jax.device_put(batch, batch_sharding(mesh))


def process_rows(mesh: Mesh | None, batch_size: int) -> slice:
  """The rows of each global batch that this process feeds: those of its devices on ``mesh``.

  In a single-process run (or without a mesh) that is every row. Each process reads
  only these rows of a batch (``loader.batches(rows=...)``) and ``place_rows`` joins
  the processes' rows into the global batch.

  Raises:
    ValueError: when this process's devices do not hold one run of rows (a mesh
      whose devices are not grouped by process).
  """
  if mesh is None or jax.process_count() == 1:
    return slice(0, batch_size)
  shards = batch_sharding(mesh).addressable_devices_indices_map((batch_size,)).values()
  spans = sorted(index[0].indices(batch_size)[:2] for index in shards)
  start, stop = spans[0][0], spans[-1][1]
  if sum(b - a for a, b in spans) != stop - start:
    raise ValueError(f'the devices of process {jax.process_index()} hold rows {spans} of a batch of {batch_size}, '
                     f'not one run of rows; order the mesh\'s devices by process')
  return slice(start, stop)


def place_rows(batch: Any, mesh: Mesh, batch_size: int) -> Any:
  """The global batch of ``batch_size`` rows whose rows ``process_rows`` are this process's ``batch``.

  In a single-process run ``batch`` is the whole batch, placed as ``shard_batch`` does.
  """
  if jax.process_count() == 1:
    return shard_batch(batch, mesh)
  sharding = batch_sharding(mesh)
  return jax.tree.map(lambda leaf: jax.make_array_from_process_local_data(
      sharding, np.asarray(leaf), (batch_size, *np.shape(leaf)[1:])), batch)


def replicate(tree: Any, mesh: Mesh) -> Any:
  """Copy ``tree`` to every device of ``mesh``."""
  return jax.device_put(tree, replicated(mesh))


def initialize_distributed(coordinator_address: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None) -> bool:
  """Join a multi-process JAX run; a no-op for a single process.

  Arguments left None are read from GANET_COORDINATOR, GANET_NUM_PROCESSES and
  GANET_PROCESS_ID, and beyond those left to ``jax.distributed.initialize``'s
  own cluster detection (SLURM, Open MPI, Cloud TPU).

  Returns:
    True when a distributed run was initialised.
  """
  coordinator_address = coordinator_address or os.environ.get('GANET_COORDINATOR')
  if num_processes is None and 'GANET_NUM_PROCESSES' in os.environ:
    num_processes = int(os.environ['GANET_NUM_PROCESSES'])
  if process_id is None and 'GANET_PROCESS_ID' in os.environ:
    process_id = int(os.environ['GANET_PROCESS_ID'])
  if coordinator_address is None and num_processes in (None, 1):
    return False
  # CPU processes talk through gloo; GPU/TPU backends ignore this setting.
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  jax.distributed.initialize(coordinator_address=coordinator_address, num_processes=num_processes,
                             process_id=process_id)
  return True
