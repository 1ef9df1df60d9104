"""Turning a plan into running inference servers: service specs, rendering, playbooks."""
