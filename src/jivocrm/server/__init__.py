"""The daemon: intake, workers, reply, reload, health and metrics (``create_app``)."""

from jivocrm.server.app import create_app

__all__ = ["create_app"]
