"""Collections: end of day, strategies, cases, contacts and field visits."""
