"""The FastAPI REST service behind /api."""
