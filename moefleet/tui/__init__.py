"""``moefleet tui``: the fleet, the plan, rollouts and benchmarks, live (Textual)."""
