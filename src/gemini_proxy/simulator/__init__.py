"""Offline Gemini simulator: an independent, deterministic stand-in for Google's v1beta API."""

from gemini_proxy.simulator.app import create_app
from gemini_proxy.simulator.config import SimulatorConfig
from gemini_proxy.simulator.server import BackgroundSimulator, add_cli_arguments, config_from_args, serve

__all__ = ["BackgroundSimulator", "SimulatorConfig", "add_cli_arguments", "config_from_args", "create_app", "serve"]
