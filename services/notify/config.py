import msgspec


class NotifyConfig(msgspec.Struct, frozen=True, kw_only=True):
    database_url: str
    nats_url: str = "nats://127.0.0.1:4222"
    smtp_url: str = "smtp://127.0.0.1:8025"
    mail_from: str = "Mastery Updates <updates@mastery.invalid>"
    bus_namespace: str = ""
    notify_http_host: str = "127.0.0.1"
    notify_http_port: int = 8003
    mailer_batch_size: int = 50
    mailer_idle_interval: float = 0.1
