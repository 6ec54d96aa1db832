"""Classify real recordings with a trained run or ensemble: the practitioner's entry point.

  classifier = Classifier.from_checkpoint('runs/pnw')                 # one run folder
  classifier = Classifier.from_checkpoint(['runs/s0', 'runs/s1'])     # a seed ensemble: mean probability
  classifier = Classifier.pretrained('pnw')                           # weights shipped with the package
  p = classifier.classify_stream(obspy.read('station.mseed'), p_onset=UTCDateTime(...))

  members       ``Member``: a trained network or physics model and what classifying with
                it needs; loaded from run folders or a pretrained model, checked to agree
  preparation   the preparation options that repeat the members' training windows;
                ``keep_components``; the checks that refuse records the members cannot see
  inputs        the checks that refuse windows and noise the members cannot take
  inference     each member's probability (one compiled call per architecture), attention
  decisions     ``decision`` at the threshold; events' probabilities by an aggregation rule
  classifier    ``Classifier``: members + preparation; probabilities, attention,
                records and streams classified
  export        ``export_pretrained`` (run folders) and ``export_physics_pretrained``
                (physics feature models): written as a model ``Classifier.pretrained``
                loads (``model_folder`` holds the file format)
"""

from ganet_jax.classify.classifier import Classified, Classifier
from ganet_jax.classify.decisions import decision
from ganet_jax.classify.export import export_physics_pretrained, export_pretrained
from ganet_jax.classify.members import Member
from ganet_jax.classify.preparation import keep_components

__all__ = ['Classified', 'Classifier', 'Member', 'decision', 'export_physics_pretrained', 'export_pretrained',
           'keep_components']
