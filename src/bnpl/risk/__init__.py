"""Real-time risk control: the safe rule expression language (rules, velocity and fraud signals
build on it)."""
