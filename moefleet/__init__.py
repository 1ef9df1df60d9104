"""moefleet: probe a GPU fleet, plan the right LLM for every box, deploy it and prove it."""

__version__ = "0.1.0"
