"""Credit assessment: point-in-time features, scorecard and gradient-boosting models, grades, limits.

Models are trained on data, stored as versioned JSON artefacts in the registry, and one champion
scores every checkout through the one decision function (``domain.decision.decide``).
"""
