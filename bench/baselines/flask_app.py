"""Textbook Flask: psycopg2, one connection per worker process, under `gunicorn -w 8` (sync workers).

DATABASE_URL=postgresql://… gunicorn -w 8 flask_app:app
"""

import os

import psycopg2
from flask import Flask, jsonify

app = Flask(__name__)
connection = psycopg2.connect(os.environ["DATABASE_URL"])
connection.autocommit = True


@app.route("/brands")
def brands():
    with connection.cursor() as cursor:
        cursor.execute("SELECT brand_id, brand_name FROM brand")
        rows = cursor.fetchall()
    return jsonify([{"brand_id": brand_id, "brand_name": brand_name} for brand_id, brand_name in rows])
