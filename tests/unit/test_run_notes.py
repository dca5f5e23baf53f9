"""The run's note is written through the REST API; a busy API server is asked again, a refusal is not."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from orchestration import run_notes


@pytest.fixture
def api(monkeypatch):
    """A stand-in API server: answers PATCHes with the statuses queued in ``answers`` (then 200)."""
    answers: list[int] = []
    notes: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _send(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # /auth/token
            self._send(200, {"access_token": "t"})

        def do_PATCH(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status = answers.pop(0) if answers else 200
            if status == 200:
                notes.append(body["note"])
            self._send(status, {})

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(run_notes, "api_url", lambda: f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setattr(run_notes.time, "sleep", lambda seconds: None)
    yield answers, notes
    server.shutdown()


def test_a_busy_api_server_is_asked_again(api):
    answers, notes = api
    answers += [503, 503]
    assert run_notes.set_note("city_visits", "city_visits__2026-10-02", "REJECTED x: encoding")
    assert notes == ["REJECTED x: encoding"]


def test_a_refusal_is_not_repeated_and_the_task_goes_on(api, caplog):
    answers, notes = api
    answers += [403, 200]
    assert not run_notes.set_note("city_visits", "city_visits__2026-10-02", "REJECTED x: encoding")
    assert notes == [] and answers == [200]  # asked once
    assert "could not set the note" in caplog.text


def test_no_api_server_at_all_is_not_waited_for(monkeypatch):
    """Under dag.test() nothing listens: the note is given up at once, the run is not slowed down."""
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(run_notes, "api_url", lambda: f"http://127.0.0.1:{port}")
    slept = []
    monkeypatch.setattr(run_notes.time, "sleep", slept.append)
    assert not run_notes.set_note("city_visits", "city_visits__2026-10-02", "note")
    assert slept == []
