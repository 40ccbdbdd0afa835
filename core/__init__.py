"""licwiz.core: the pure domain library.

Nothing here imports Textual (a test enforces it), so the Licensing Center,
the license server and scripts can use it without pulling in a UI.
"""

__version__ = "0.1.0"
