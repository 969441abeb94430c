"""A local OSV query endpoint over advisory records in the PyPA advisory database's layout
(`<package>/<id>.yaml`, OSV in YAML), so the audit can be checked without reaching osv.dev.

It answers `POST /v1/query` as OSV does for the queries pip-audit sends: the records whose
`affected` entry names the package and lists the version.
"""

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml


def _affects(record: dict[str, Any], name: str, version: str) -> bool:
    return any(
        entry["package"]["name"].lower() == name and version in entry.get("versions", [])
        for entry in record.get("affected", [])
    )


@contextlib.contextmanager
def osv_endpoint(records_dir: Path) -> Iterator[str]:
    """The URL of a query endpoint over every `*.yaml` record under `records_dir`."""
    records = [yaml.safe_load(path.read_text()) for path in sorted(records_dir.rglob("*.yaml"))]

    class Query(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path != "/v1/query":
                self.send_error(404)
                return
            query = json.loads(self.rfile.read(int(self.headers["content-length"])))
            name, version = query["package"]["name"].lower(), query["version"]
            vulns = [record for record in records if _affects(record, name, version)]
            body = json.dumps({"vulns": vulns} if vulns else {}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Query)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/query"
    finally:
        server.shutdown()
        server.server_close()
