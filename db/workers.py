"""Worker heartbeats: one row per worker process that runs tasks, refreshed every few seconds.

The dashboard lists workers from these rows (never from a worker's memory), so
what it shows survives API restarts, and a worker killed with ``kill -9``
shows up as silent instead of vanishing. Each process writes only its own row,
so an UPDATE-then-INSERT needs no lock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import BigInteger, Index, Integer, String, UniqueConstraint, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from db.models import Base, BigId, utcnow

# Rows silent this long are removed by the next beat of any worker (dead machines, kill -9).
FORGET_AFTER = timedelta(hours=1)


class WorkerHeartbeat(Base):
    __tablename__ = "worker_heartbeats"
    __table_args__ = (
        UniqueConstraint("hostname", "pid", name="uq_worker_heartbeats_host_pid"),
        Index("ix_worker_heartbeats_last_seen", "last_seen"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    hostname: Mapped[str] = mapped_column(String(200))  # the Celery node name, e.g. ocr-worker-1@host
    pid: Mapped[int] = mapped_column(Integer)
    device: Mapped[str] = mapped_column(String(100))  # cpu, cuda or "cuda (NVIDIA H100)"
    queues: Mapped[str | None] = mapped_column(String(200))
    current_page_id: Mapped[int | None] = mapped_column(BigInteger)  # no foreign key: pages may be deleted mid-run
    current_since: Mapped[datetime | None]
    pages_done: Mapped[int] = mapped_column(Integer, default=0)  # tasks this process finished since it started
    beat_interval: Mapped[int] = mapped_column(Integer, default=10)  # seconds; silent for 3 of these = offline
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)


def beat(session: Session, hostname: str, pid: int, **fields) -> None:
    """Record that the process is alive, with whatever changed (device, current page...)."""
    now = utcnow()
    values = {"last_seen": now, **fields}
    moved = session.execute(
        update(WorkerHeartbeat)
        .execution_options(synchronize_session=False)
        .where(WorkerHeartbeat.hostname == hostname, WorkerHeartbeat.pid == pid)
        .values(**values)
    ).rowcount
    if moved == 0:
        row = {"device": "unknown", "pages_done": 0, **fields}
        session.add(WorkerHeartbeat(hostname=hostname, pid=pid, started_at=now, last_seen=now, **row))


def forget(session: Session, hostname: str, pid: int | None = None) -> int:
    """Remove a process's row (clean shutdown), or every row of a node (a restarted node's old processes)."""
    query = delete(WorkerHeartbeat).where(WorkerHeartbeat.hostname == hostname)
    if pid is not None:
        query = query.where(WorkerHeartbeat.pid == pid)
    return session.execute(query).rowcount


def forget_silent(session: Session, now: datetime | None = None) -> int:
    cutoff = (now or utcnow()) - FORGET_AFTER
    return session.execute(delete(WorkerHeartbeat).where(WorkerHeartbeat.last_seen < cutoff)).rowcount


def recent(session: Session, since: datetime) -> list[WorkerHeartbeat]:
    """Rows heard from since ``since``, newest node first."""
    return list(
        session.scalars(
            select(WorkerHeartbeat)
            .where(WorkerHeartbeat.last_seen >= since)
            .order_by(WorkerHeartbeat.hostname, WorkerHeartbeat.pid)
        )
    )
