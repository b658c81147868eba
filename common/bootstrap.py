"""Reference data every node needs: the police units and the hub node (idempotent)."""
from __future__ import annotations

from sqlalchemy.orm import Session

from common.db import Database
from common.migrate import migration_lock, upgrade

from common.models import Node, Unit
from common.reference import UNITS
from common.settings import Settings


def ensure_reference_data(session: Session, settings: Settings) -> None:
    for order, (unit_id, name, name_en) in enumerate(UNITS):
        unit = session.get(Unit, unit_id)
        if unit is None:
            session.add(Unit(id=unit_id, name=name, name_en=name_en, sort_order=order,
                             kind="station" if unit_id.startswith("ps-") else "department"))
    if session.get(Node, "hub") is None:
        session.add(Node(id="hub", kind="hub", name=f"{settings.home_city_name}警企联动服务中心", parent_id=None,
                         path="/hub/", region_code=settings.home_city_code))
    session.flush()


def prepare_database(settings: Settings) -> None:
    """Migrate a node's database to head and make sure its reference data is there (hub and spoke alike)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Several hub hosts may start (or `lianfu hub migrate`) at once: on PostgreSQL the schema and the reference data
    # are made by one of them at a time, under the migration lock; the others then find them there.
    with migration_lock(settings.database_url) as locked:
        upgrade(settings.database_url, connection=locked)
        _reference_data(settings)


def _reference_data(settings: Settings) -> None:
    db = Database.connect(settings.database_url)
    try:
        with db.transaction() as session:
            ensure_reference_data(session, settings)
        if db.dialect == "sqlite":
            # SQLite has no autovacuum daemon: refresh the planner's statistics at each start.
            with db.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
    finally:
        db.dispose()
