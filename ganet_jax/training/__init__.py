"""Training: settings, losses, the jitted step, checkpoints, ``experiment.run`` (train + evaluate a run), and
self-supervised pretraining of an encoder (``contrastive``)."""

from ganet_jax.training.checkpoint import RunCheckpoints, load_trained
from ganet_jax.training.config import ExperimentConfig
from ganet_jax.training.contrastive import PretrainConfig, load_encoder, nt_xent_loss, pretrain, with_encoder
from ganet_jax.training.experiment import run
from ganet_jax.training.losses import (balanced_class_weights, cross_entropy, focal_loss, loss_function,
                                      weighted_cross_entropy)
from ganet_jax.training.step import (TrainState, create_train_state, jit_train_step, model_variables,
                                     precise_batch_stats, train_step)

__all__ = ['ExperimentConfig', 'PretrainConfig', 'RunCheckpoints', 'TrainState', 'balanced_class_weights',
           'create_train_state', 'cross_entropy', 'focal_loss', 'jit_train_step', 'load_encoder', 'loss_function',
           'load_trained', 'model_variables', 'nt_xent_loss', 'precise_batch_stats', 'pretrain', 'run', 'train_step',
           'weighted_cross_entropy', 'with_encoder']
