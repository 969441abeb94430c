"""nats-server users rendered from the permission table (`shared.platform.bus_users`).

Two renderings of one table: the embedded servers' (dev stack, tests), with passwords in the
file, and `deploy/nats-server.conf`, whose passwords are references to the nats-server host's
environment (`python -m devtools.nats_auth > deploy/nats-server.conf` writes it; a test keeps the
file equal to it). Neither has a `no_auth_user`: a connection without credentials is refused.

The embedded servers also have an `admin` user with every right, for test plumbing (deleting a
test's streams) and for tools run beside `mastery dev`. Their service passwords derive from the
admin's secret, so whoever holds the admin URL can name each service's URL (`service_url`) and
nothing is stored beside the configuration file.
"""

import hashlib
import hmac
import json
import sys
from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from shared.platform.bus_users import BUS_USERS, permissions_for

ADMIN_USER = "admin"


def service_password(admin_secret: str, user: str) -> str:
    """URL-safe, so it needs no escaping in NATS_URL."""
    return hmac.new(admin_secret.encode(), user.encode(), hashlib.sha256).hexdigest()


def service_url(admin_url: str, user: str) -> str:
    """The URL of `user` on the server whose admin URL this is; any other URL (a server without
    our users, or credentials of another kind) is returned as it is."""
    parts = urlsplit(admin_url)
    if parts.username != ADMIN_USER or not parts.password:
        return admin_url
    host = parts.netloc.rpartition("@")[2]
    password = service_password(parts.password, user)
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


def _user_entry(user: str, password: str, namespaces: tuple[str, ...]) -> str:
    permissions = permissions_for(BUS_USERS[user], namespaces)

    def subjects(values: tuple[str, ...]) -> str:
        return "".join(f"\n          {json.dumps(value)}" for value in values)

    return (
        f"    {{\n      user: {json.dumps(user)}\n      password: {password}\n"
        f"      permissions: {{\n"
        f"        publish: {{ allow: [{subjects(permissions.publish)}\n        ] }}\n"
        f"        subscribe: {{ allow: [{subjects(permissions.subscribe)}\n        ] }}\n"
        f"      }}\n    }}"
    )


def authorization(passwords: Mapping[str, str], namespaces: tuple[str, ...] = ("",)) -> str:
    """An `authorization` block: each service user with its permissions in `namespaces`, and the
    `admin` user with every right if `passwords` names one. A password is written as given: a
    quoted string, or a `$VARIABLE` reference."""
    entries = [
        _user_entry(user, passwords[user], namespaces) for user in BUS_USERS if user in passwords
    ]
    if ADMIN_USER in passwords:
        entries.append(f"    {{ user: {ADMIN_USER}, password: {passwords[ADMIN_USER]} }}")
    return "authorization {\n  users: [\n" + "\n".join(entries) + "\n  ]\n}\n"


def embedded_passwords(admin_secret: str) -> dict[str, str]:
    passwords = {user: service_password(admin_secret, user) for user in BUS_USERS}
    return {
        name: json.dumps(value) for name, value in {**passwords, ADMIN_USER: admin_secret}.items()
    }


def password_variable(user: str) -> str:
    return f"NATS_{user.upper()}_PASSWORD"


DEPLOY_HEADER = """\
# Generated from shared/platform/bus_users.py by `python -m devtools.nats_auth`; do not edit.
#
# JetStream acknowledges before it fsyncs by default (every two minutes), and acknowledged writes
# can be lost in a crash. PostgreSQL is the system of record and can re-publish, but a deployment
# should still make the bus durable.
#
# One user per service, each allowed only its own subjects; no anonymous connections. The
# passwords come from nats-server's environment, best as bcrypt hashes ("$2a$..."):
#   {variables}
# and each service gets its own plaintext password in its NATS_URL (see deploy/README.md).
port: 4222
jetstream {{
  store_dir: /data/jetstream
  sync_interval: always
}}
"""


def deploy_config(namespaces: tuple[str, ...] = ("",)) -> str:
    """The deployment's configuration; a deployment with BUS_NAMESPACE renders its own with
    `python -m devtools.nats_auth NAMESPACE`."""
    variables = ", ".join(password_variable(user) for user in BUS_USERS)
    passwords = {user: f"${password_variable(user)}" for user in BUS_USERS}
    return DEPLOY_HEADER.format(variables=variables) + authorization(passwords, namespaces)


if __name__ == "__main__":
    sys.stdout.write(deploy_config(tuple(sys.argv[1:]) or ("",)))
