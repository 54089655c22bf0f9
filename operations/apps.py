from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """The app on top: what needs every app (the operations page, readiness, /metrics, the demo seed).

    No app imports it; jood/urls.py mounts its URLs by name.
    """

    name = "operations"
