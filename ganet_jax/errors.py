"""The library's own exception types, at the bottom of the import graph so every layer can raise them."""


class RecordRejected(Exception):
  """A record that cannot become a window; the message is the reason reported."""


class ConfigError(ValueError):
  """A bad setting of a run's configuration.

  Attributes:
    field: its path in the config (``'epochs'``, ``'model.name'``), so the message
      names it as the command line gives it: ``--config.epochs: must be >= 0, got -1``.
  """

  def __init__(self, field: str, message: str):
    super().__init__(f'--config.{field}: {message}')
    self.field = field
