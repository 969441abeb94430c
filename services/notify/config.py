from shared.platform.config import ServiceConfig


class NotifyConfig(ServiceConfig, frozen=True, kw_only=True):
    smtp_url: str = "smtp://127.0.0.1:8025"
    mail_from: str = "Mastery Updates <updates@mastery.invalid>"
    notify_http_host: str = "127.0.0.1"
    notify_http_port: int = 8003
    mailer_batch_size: int = 50
    mailer_idle_interval: float = 0.1
    mailer_lease: float = 15.0  # seconds a row stays leased unless its send is still going on
    mailer_first_retry: float = 2.0  # seconds before a transient failure is retried, then doubled
    mailer_max_retry: float = 1800.0
    # Per key and second. Guardian lists and parked emails are read and changed rarely.
    rate_limit_requests: int = 50
