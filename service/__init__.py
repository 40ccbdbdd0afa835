"""HTTP plumbing the Licensing Center and the license server share."""
