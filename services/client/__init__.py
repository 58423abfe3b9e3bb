"""Programs the scenario client runs inside the lab: ``browse`` (the instrumented
browser) and ``fetch`` (one HTTP request with retries, for API steps).
"""
