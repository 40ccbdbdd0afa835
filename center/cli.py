"""Moved to licwiz.cli.center; this re-export goes once the dispatcher calls cli/ directly."""

from licwiz.cli.center import main as main
