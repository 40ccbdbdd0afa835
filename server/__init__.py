"""licwiz.server: the site's license server (holds licenses, hands out seats)."""
