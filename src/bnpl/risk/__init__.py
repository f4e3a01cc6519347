"""Real-time risk control: checkout signals (velocity, fraud, merchant graph), and rule sets whose
conditions are CEL expressions, type-checked against those signals when they load."""
