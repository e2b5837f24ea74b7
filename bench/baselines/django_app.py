"""Textbook Django, in one file: an async view over the ORM, under gunicorn with uvicorn workers.

    DATABASE_URL=postgresql://… gunicorn -w N -k uvicorn_worker.UvicornWorker django_app:application

Django's defaults, except the database: psycopg 3 with Django's connection pool (5.1+), as its docs
recommend. Without it every request opens a connection of its own in its own thread, and 200
concurrent requests run into PostgreSQL's connection limits instead of measuring Django.
"""

import os
from urllib.parse import unquote, urlsplit

import django
from django.conf import settings
from django.core.asgi import get_asgi_application
from django.db import models
from django.http import HttpRequest, JsonResponse
from django.urls import path

database = urlsplit(os.environ["DATABASE_URL"])
settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="benchmark-only-not-a-secret",
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": database.path.lstrip("/"),
            "USER": unquote(database.username or ""),
            "PASSWORD": unquote(database.password or ""),
            "HOST": database.hostname,
            "PORT": database.port,
            "OPTIONS": {"pool": True},
        }
    },
)
django.setup()


class Brand(models.Model):
    brand_id = models.AutoField(primary_key=True)
    brand_name = models.TextField()

    class Meta:
        app_label = "bench"
        db_table = "brand"
        managed = False


async def brands(request: HttpRequest) -> JsonResponse:
    rows = [row async for row in Brand.objects.values("brand_id", "brand_name")]
    return JsonResponse(rows, safe=False)


urlpatterns = [path("brands", brands)]
application = get_asgi_application()
