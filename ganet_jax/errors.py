"""The library's own exception types, at the bottom of the import graph so every layer can raise them."""


class RecordRejected(Exception):
  """A record that cannot become a window; the message is the reason reported."""
