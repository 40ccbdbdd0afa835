"""licwiz.app: the Textual App, the wizard state and flow, and the CLI."""
