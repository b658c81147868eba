"""The hub's backup and restore against PostgreSQL's own tools, in the same run on the same database.

A private PostgreSQL (tests/pgserver.py) with a hub of N enterprises (tests/bench/big_hub.py: their people, visits,
cases, a long audit trail) and M MB of attachment files in the data dir's blob store (random bytes: photos and scans do
not compress). Timed, each once after a warm-up read of the database:

* plain `pg_dump -Fc` of the database, and `pg_restore --clean --if-exists --no-owner --single-transaction` of it;
* the same plus a tar of the blob store (what an operator would have to do by hand for the same content);
* `lianfu hub backup` (hub/backup.py backup_hub) and `lianfu hub restore` (restore_hub: checks every sha256 first,
  restores, migrates, new lineage).

Prints one `name: value unit` line per figure, and the ratios. Full size: --enterprises 100000 --attachments-mb 1024;
`--small` for a quick run (2,000 enterprises, 32 MB).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
for _p in (str(HERE), str(HERE.parent), str(ROOT)):
    if _p not in sys.path:
        sys.path.insert(0, _p)


def figure(name: str, value: float, unit: str) -> None:
    print(f"{name}: {value:.2f} {unit}", flush=True)


def put_files(root: Path, megabytes: int) -> int:
    """`megabytes` of random files, 1 MB to 4 MB each, into a blob store at `root`; how many."""
    import random

    from common.attachments.blobs import BlobStore

    store = BlobStore(root)
    rng = random.Random(7)
    left = megabytes * 1024 * 1024
    count = 0
    while left > 0:
        size = min(left, rng.randint(1, 4) * 1024 * 1024)
        store.put(os.urandom(size))
        left -= size
        count += 1
    return count


def timed(action) -> float:  # noqa: ANN001
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--attachments-mb", type=int, default=1024)
    parser.add_argument("--audit-entries", type=int, default=200_000)
    parser.add_argument("--small", action="store_true", help="2,000 enterprises and 32 MB of files")
    parser.add_argument("--work", help="A directory for the run (default: a temporary one, removed after)")
    args = parser.parse_args(argv)
    if args.small:
        args.enterprises, args.attachments_mb, args.audit_entries = 2_000, 32, 20_000

    from big_hub import seed
    from pgserver import PostgresServer, find_pg_bin

    from common.settings import Settings
    from hub.backup import backup_hub, pg_tool, restore_hub, server_major, _libpq

    if find_pg_bin() is None:
        print("backup: PostgreSQL binaries not found")
        return
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="lianfu-backup-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        with PostgresServer(work / "pg") as server:
            url = server.create_database("lianfu_backup_bench")
            started = time.perf_counter()
            seed(url, args.enterprises, audit_entries=args.audit_entries)
            data_dir = work / "hub"
            data_dir.mkdir(exist_ok=True)
            (data_dir / "secret_key").write_text("bench-secret-key-0123456789abcdef")
            files = put_files(data_dir / "blobs", args.attachments_mb)
            figure("backup_seed", time.perf_counter() - started, "s")
            print(f"backup_hub: {args.enterprises} enterprises, {files} files, {args.attachments_mb} MB of files")
            settings = Settings(role="hub", node_id="hub", data_dir=data_dir, db_url=url, cookie_secure=False)
            libpq, env = _libpq(url)
            major = server_major(url)
            dump, restore = pg_tool("pg_dump", major), pg_tool("pg_restore", major)
            plain = work / "plain.dump"

            def plain_dump() -> None:
                subprocess.run([dump, "--format=custom", "--no-owner", "--file", str(plain), "--dbname", libpq],
                               env=env, check=True)

            def plain_restore() -> None:
                subprocess.run([restore, "--clean", "--if-exists", "--no-owner", "--single-transaction",
                                "--exit-on-error", "--dbname", libpq, str(plain)], env=env, check=True,
                               capture_output=True)

            def blob_tar() -> None:
                with tarfile.open(work / "plain-blobs.tar", "w") as tar:
                    tar.add(data_dir / "blobs", arcname="blobs")

            def blob_untar() -> None:
                target = work / "plain-blobs"
                shutil.rmtree(target, ignore_errors=True)
                with tarfile.open(work / "plain-blobs.tar") as tar:
                    tar.extractall(target, filter="data")

            plain_dump()  # warm-up: the database's pages in the cache for both
            pg_dump_s = timed(plain_dump)
            pg_restore_s = timed(plain_restore)
            tar_s = timed(blob_tar)
            untar_s = timed(blob_untar)
            target = work / "hub.lianfu-backup"
            backup_s = timed(lambda: backup_hub(settings, target, show=False))
            restore_s = timed(lambda: restore_hub(settings, target, lambda: True, show=False))

            figure("pg_dump", pg_dump_s, "s")
            figure("pg_restore", pg_restore_s, "s")
            figure("blobs_tar", tar_s, "s")
            figure("blobs_untar", untar_s, "s")
            figure("hub_backup", backup_s, "s")
            figure("hub_restore", restore_s, "s")
            figure("dump_size", plain.stat().st_size / 1024 / 1024, "MB")
            figure("backup_size", target.stat().st_size / 1024 / 1024, "MB")
            figure("backup_vs_pg_dump", backup_s / pg_dump_s, "x")
            figure("restore_vs_pg_restore", restore_s / pg_restore_s, "x")
            figure("backup_vs_pg_dump_and_tar", backup_s / (pg_dump_s + tar_s), "x")
            figure("restore_vs_pg_restore_and_untar", restore_s / (pg_restore_s + untar_s), "x")
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
