# The Celery application, loaded with Django so that ``shared_task`` tasks use it (Celery's
# documented layout); it does nothing unless a broker is configured (CELERY_BROKER_URL).
from .celery import app as celery_app

__all__ = ("celery_app",)
