"""The database roles as the tests use them: each service connects as its own role, the
migrations run as the owner, and the test plumbing keeps the server's admin URL."""

from shared.platform.roles import ROLES, RoleUrls, role_urls

# Fixed so that a server with password authentication (testcontainers) lets the roles in.
TEST_PASSWORDS = {role: f"{role}-test" for role in ROLES}


def urls_for(database_url: str) -> RoleUrls:
    """The roles' URLs for the database an admin URL names."""
    return role_urls(database_url, TEST_PASSWORDS)


def service_url(database_url: str, service: str) -> str:
    return urls_for(database_url).services[service]
