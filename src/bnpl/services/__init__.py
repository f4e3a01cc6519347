"""Use cases tying the domain to the store. The API, CLI, console and simulator all call these."""
