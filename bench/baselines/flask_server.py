"""The design Vigia replaces, as a benchmark baseline: Flask served by waitress, each status
POSTed as JSON and kept in a dict in memory (no TLS, nothing durable: a restart loses it all).

Usage: python flask_server.py PORT [THREADS]
"""
import logging
import sys

from flask import Flask, jsonify, request
from waitress import serve

app = Flask(__name__)
statuses = {}  # (site, recorder) -> latest JSON, as the old server kept it


@app.post("/status")
def receive_status():
    data = request.get_json(force=True)
    statuses[(data["site"], data["recorder"])] = data
    return jsonify(ok=True)


@app.get("/statuses")
def list_statuses():
    return jsonify([v for v in statuses.values()])


if __name__ == "__main__":
    logging.getLogger("waitress").setLevel(logging.ERROR)
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    serve(app, host="127.0.0.1", port=port, threads=threads, connection_limit=1000)
