"""`mastery dev` runs its embedded nats-server as deployed: JetStream syncs every write."""

import json
import urllib.request
from pathlib import Path
from typing import Any

from devtools.devstack import start_infrastructure
from devtools.embedded import EmbeddedNats


def _jetstream_config(nats: EmbeddedNats) -> dict[str, Any]:
    with urllib.request.urlopen(f"{nats.monitor_url}/varz", timeout=5) as response:
        config: dict[str, Any] = json.load(response)["jetstream"]["config"]
        return config


def test_the_dev_stack_nats_server_syncs_every_write(tmp_path: Path) -> None:
    given = {"DATABASE_URL": "postgresql://unused", "SMTP_URL": "smtp://unused"}
    infra = start_infrastructure(given, tmp_path)
    try:
        assert infra.nats is not None
        assert infra.nats_url == infra.nats.url
        assert 'sync_interval: "always"' in infra.nats.config_file.read_text()
        config = _jetstream_config(infra.nats)
        assert config["sync_always"] is True
        assert config["store_dir"] == str(tmp_path / "nats" / "jetstream")
    finally:
        infra.stop()


def test_an_embedded_server_left_to_its_defaults_syncs_on_the_default_interval(
    tmp_path: Path,
) -> None:
    nats = EmbeddedNats(tmp_path).start()
    try:
        config = _jetstream_config(nats)
        assert "sync_always" not in config
        assert "sync_interval" not in nats.config_file.read_text()
    finally:
        nats.stop()
