"""The classic aiohttp REST service behind /legacy."""
