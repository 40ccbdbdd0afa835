"""Moved to licwiz.cli.server; this re-export goes once the dispatcher calls cli/ directly."""

from licwiz.cli.server import main as main
