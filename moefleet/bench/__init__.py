"""Post-deploy benchmarks: load generation, metrics, quality gate and weight audit."""
