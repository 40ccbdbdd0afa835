"""HTTP plumbing the Licensing Center and the license server share.

- ``errors``: ``ApiError`` (the one error class of a refusal or HTTP error),
  the error envelope, ``ErrorHandler`` (exceptions -> error answers: endpoint
  guard and Starlette's handler for routing errors).
- ``body``: ``read_json`` within a size limit, worded by each service's ``JsonRules``.
- ``access``: request ids, ``RequestLog`` (X-Request-Id, one JSON log line per request).
- ``outage``: whether a failure means the database cannot be reached now (503 + Retry-After).

Imports nothing of licwiz but core.
"""
