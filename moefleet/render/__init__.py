"""Rendering: ServiceSpec -> unit files, env files, launchers, compose, nginx (pure, Jinja).

Public API::

    render_service(spec, home=None, after=()) -> list[RenderedFile]
    render_compose(spec, image=VLLM_IMAGE) -> RenderedFile
    render_ray(name, role, *, ray, head_address, workdir, ...) -> list[RenderedFile]
    render_front_door(model_id, replicas, listen_port, listen_host="0.0.0.0") -> RenderedFile
    server_command(spec) -> Command          the argv a backend runs
"""

from moefleet.render.command import Command, server_command
from moefleet.render.compose import VLLM_IMAGE, render_compose
from moefleet.render.environment import RenderedFile, make_environment, render_template
from moefleet.render.filters import RenderError
from moefleet.render.front_door import render_front_door
from moefleet.render.ray import render_ray
from moefleet.render.service import render_service

__all__ = [
    "VLLM_IMAGE",
    "Command",
    "RenderError",
    "RenderedFile",
    "make_environment",
    "render_compose",
    "render_front_door",
    "render_ray",
    "render_service",
    "render_template",
    "server_command",
]
