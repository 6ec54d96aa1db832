"""One process of the two-process test: a GA-Net train-mode forward sharded over both processes.

Run as ``python tests/multiprocess_worker.py PROCESS_ID PORT OUT.npz``. Each process
reads its half of the global batch through the loader (``sharding.process_rows``),
feeds it and saves the BatchNorm statistics it gets; the test compares them with
one process computing the whole batch alone.
"""

import sys

import jax

jax.config.update('jax_platforms', 'cpu')
jax.config.update('jax_num_cpu_devices', 1)


def main(process_id: int, port: int, out: str) -> None:
  from ganet_jax.sharding import initialize_distributed
  assert initialize_distributed(f'127.0.0.1:{port}', num_processes=2, process_id=process_id)

  import numpy as np
  from ganet_jax.data.loader import batches
  from ganet_jax.data.records import RecordSet
  from ganet_jax.sharding import data_mesh, place_rows, process_rows, replicate, replicated
  from multiprocess_case import global_batch, model_and_variables

  model, variables = model_and_variables()
  mesh = data_mesh()
  assert mesh.devices.size == 2 and jax.process_count() == 2
  rows = process_rows(mesh, 4)
  assert rows == slice(2 * process_id, 2 * process_id + 2), rows
  # the loader reads this process's rows of the batch, and only those
  records = RecordSet.unlabeled(global_batch().astype(np.float32))
  local = next(batches(records, np.arange(4), 4, rows=rows))
  assert local.waveforms.shape[0] == 2
  x = place_rows(local.waveforms, mesh, 4)
  apply = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=['batch_stats'])[1],
                  out_shardings=replicated(mesh))
  stats = apply(replicate(variables, mesh), x)
  np.savez(out, *[np.asarray(leaf.addressable_data(0)) for leaf in jax.tree.leaves(stats)])


if __name__ == '__main__':
  main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
