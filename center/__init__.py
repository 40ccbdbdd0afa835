"""licwiz.center: the vendor's Licensing Center (HTTP API, web page, operator console)."""
