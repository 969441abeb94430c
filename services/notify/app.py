"""Composition root of the notify service: the planner consumer, the SMTP mailer, guardians API."""

from datetime import timedelta

import asyncpg
from litestar import Litestar

from services.notify.adapters.http import GuardiansController, NotificationsController
from services.notify.adapters.mail_metrics import notification_series
from services.notify.adapters.mailer import SmtpMailer
from services.notify.adapters.planner import PLANNER_NAME, NotificationPlanner, UnsubscribeLinks
from services.notify.adapters.rendering import Renderer
from services.notify.adapters.report_links import ReportLinks
from services.notify.adapters.roster import ROSTER_CONSUMER, RosterFollower
from services.notify.adapters.settings_http import MailSettingsController, StudentsController
from services.notify.adapters.smtp import SmtpServer
from services.notify.adapters.suppressions import SuppressionsController
from services.notify.adapters.unsubscribe_http import unsubscribe_router
from services.notify.config import NotifyConfig
from services.notify.migrations import MIGRATIONS
from shared.contract.cloudevents import EnvelopeCodec
from shared.contract.events.mastery import AnyMasteryEvent
from shared.contract.events.roster import RosterChange
from shared.platform.bus import bus_names
from shared.platform.consumer import BatchConsumer, ConsumerSettings
from shared.platform.metrics import consumer_counts
from shared.platform.service import create_service_app
from shared.platform.supervisor import GiveUp, NamedWorker, terminate_process
from shared.platform.tracing import Tracing, traced_batches
from shared.platform.wake import Wakeup

__all__ = ["MIGRATIONS", "create_app"]


def create_app(
    config: NotifyConfig,
    *,
    pool: asyncpg.Pool | None = None,
    on_give_up: GiveUp = terminate_process,
    tracing: Tracing | None = None,
) -> Litestar:
    """The service; the planner's batches and each email sent are spans of `tracing` (else of
    the tracing the config describes), joined to the trace of the change's cause."""
    bus = bus_names(config)
    secret = config.unsubscribe_secret.encode()
    renderer = Renderer()
    mailers: list[SmtpMailer] = []  # read by /metrics: emails this process sent and parked
    traced = tracing or Tracing.from_config(config, "notify")

    def workers(pool: asyncpg.Pool) -> list[NamedWorker]:
        defaults = config.storm_defaults()
        planner = NotificationPlanner(
            pool,
            defaults,
            unsubscribe=UnsubscribeLinks(secret, config.public_url()),
        )
        consumer = BatchConsumer(
            ConsumerSettings(
                nats_url=config.nats_url,
                bus=bus,
                stream=bus.mastery_stream,
                filter_subject=bus.all_mastery_changed(),
                durable=PLANNER_NAME,
                retry_max_delay=config.consumer_retry_max_delay,
                retry_later_limit=config.consumer_retry_later_limit,
            ),
            EnvelopeCodec(AnyMasteryEvent),
            traced_batches(traced, "planner batch", planner.handle_mastery_events),
        )
        follower = RosterFollower(pool)
        rosters = BatchConsumer(
            ConsumerSettings(
                nats_url=config.nats_url,
                bus=bus,
                stream=bus.rosters_stream,
                filter_subject=bus.all_rosters(),
                durable=ROSTER_CONSUMER,
                retry_max_delay=config.consumer_retry_max_delay,
                retry_later_limit=config.consumer_retry_later_limit,
            ),
            EnvelopeCodec[RosterChange](RosterChange),
            follower.handle_roster_events,
        )
        server = SmtpServer.from_url(
            config.smtp_url,
            username=config.smtp_username,
            password=config.smtp_password,
            require_tls=config.smtp_starttls == "required",
            ca_file=config.smtp_ca_file,
        )
        mailer = SmtpMailer(
            pool,
            server,
            config.mail_from,
            batch_size=config.mailer_batch_size,
            idle=config.mailer_idle_interval,
            wakeup=Wakeup(pool, "notifications", config.mailer_poll_interval),
            lease=timedelta(seconds=config.mailer_lease),
            first_retry=timedelta(seconds=config.mailer_first_retry),
            max_retry=timedelta(seconds=config.mailer_max_retry),
            retry_jitter=config.mailer_retry_jitter,
            max_per_second=config.smtp_max_per_second,
            storm_defaults=defaults,
            tracing=traced,
            report_links=ReportLinks.from_config(config),
        )
        mailers.append(mailer)
        return [
            NamedWorker("planner", consumer.run, consumer.lag, consumer_counts(consumer)),
            NamedWorker("rosters", rosters.run, rosters.lag, consumer_counts(rosters)),
            NamedWorker("mailer", mailer.run, mailer.lag),
        ]

    return create_service_app(
        title="Notify API",
        description="Guardians, students' names, the school's mail settings, and emails to "
        "guardians when a student's mastery changes.",
        config=config,
        route_handlers=[
            GuardiansController,
            NotificationsController,
            StudentsController,
            MailSettingsController,
            SuppressionsController,
            unsubscribe_router(secret, renderer),
        ],
        workers=workers,
        pool=pool,
        on_give_up=on_give_up,
        metric_probes=[notification_series(mailers)],
        tracing=traced,
    )
