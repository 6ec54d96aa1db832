"""Classify real recordings with a trained run or ensemble: the practitioner's entry point.

  classifier = Classifier.from_checkpoint('runs/pnw')                 # one run folder
  classifier = Classifier.from_checkpoint(['runs/s0', 'runs/s1'])     # a seed ensemble: mean probability
  classifier = Classifier.pretrained('pnw')                           # weights shipped with the package
  p = classifier.classify_stream(obspy.read('station.mseed'), p_onset=UTCDateTime(...))

  members       ``Member``: a trained network and what classifying with it needs; loaded
                from run folders or a pretrained ensemble, checked to agree
  preparation   the preparation options that repeat the members' training windows;
                ``keep_components``
  classifier    ``Classifier``: members + preparation; probabilities, attention,
                records and streams classified
  export        ``export_pretrained``: runs written as an ensemble ``Classifier.pretrained``
                loads (``ganet_jax.pretrained`` holds the file format)
"""

from ganet_jax.classify.classifier import Classified, Classifier, decision
from ganet_jax.classify.export import export_pretrained
from ganet_jax.classify.members import Member
from ganet_jax.classify.preparation import keep_components

__all__ = ['Classified', 'Classifier', 'Member', 'decision', 'export_pretrained', 'keep_components']
