"""The marketplace simulator: a synthetic season driven through the real services."""
