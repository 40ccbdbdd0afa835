"""licwiz.styles: the wizard's .tcss files, shipped inside the wheel."""
