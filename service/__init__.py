"""HTTP plumbing the Licensing Center and the license server share.

- ``errors``: ``ApiError`` (the one error class of a refusal or HTTP error),
  the error envelope, ``ErrorHandler`` (exceptions -> error answers: endpoint
  guard and Starlette's handler for routing errors).
- ``body``: ``read_json`` within a size limit, worded by each service's ``JsonRules``.
- ``access``: request ids (an incoming X-Request-Id kept when usable), ``RequestLog``
  (X-Request-Id, one JSON access-log line per request, with the client address).
- ``logs``: the one JSON formatter for our lines and uvicorn's, uvicorn's log_config,
  the access-log file handler that follows logrotate (rename + SIGHUP; mode 0600).
- ``metrics``: Prometheus counters/histograms of both services, ``/metrics`` (closed
  unless a token or a separate address is configured), multiprocess mode for workers.
- ``outage``: whether a failure means the database cannot be reached now (503 + Retry-After).

Imports nothing of licwiz but core.
"""
