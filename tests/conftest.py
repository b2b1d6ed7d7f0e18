import os

# No telemetry from the test Prefect server (this machine has no route out anyway).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
