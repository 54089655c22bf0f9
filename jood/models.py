"""The ground floor's one table: heartbeats of the processes that must never stop quietly."""

from django.db import models


class Heartbeat(models.Model):
    """When a process last showed it was alive (`beat`: celery-beat's last tick, or the embedded scheduler's).

    One row per name, updated in place: /healthz/ready and the operations page read it.
    """

    name = models.CharField(max_length=50, primary_key=True)
    at = models.DateTimeField()

    class Meta:
        verbose_name = "heartbeat"

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
