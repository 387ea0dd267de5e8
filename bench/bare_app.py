"""The ceiling: a bare Flask JSON endpoint, served by the same gunicorn configuration."""

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


@app.get("/bare")
def bare():
    return jsonify(status="ok", items=[])
