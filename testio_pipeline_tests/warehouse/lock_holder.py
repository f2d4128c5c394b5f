"""A second process for the connection tests: `python -m ...lock_holder MODE DB_PATH`.

Modes:
- `write` / `read`: open DB_PATH (read-write / read-only), print "locked", hold the file until a
  line (or EOF) arrives on stdin, close it, print "released".
- `doomed-write`: in one `write_transaction`, rewrite every `bugs` row and insert a large batch,
  print "mid-transaction <file size before> <file size now>", then wait to be killed.
"""

from __future__ import annotations

import os
import sys
import time

import duckdb

from testio_pipeline.warehouse.connection import write_transaction

DOOMED_ROWS = 1_000_000
DOOMED_WAIT_SECONDS = 300


def hold(path: str, read_only: bool) -> None:
    con = duckdb.connect(path, read_only=read_only)
    print("locked", flush=True)
    sys.stdin.readline()
    con.close()
    print("released", flush=True)


def doomed_write(path: str) -> None:
    size_before = os.path.getsize(path)
    with write_transaction(path) as con:
        con.execute("UPDATE bugs SET title = 'doomed', raw = NULL")
        con.execute(
            "INSERT INTO bugs (customer_id, id, title, raw) "
            "SELECT 1, 1000000 + i, 'doomed ' || i, to_json({'payload': md5(i::VARCHAR)}) "
            f"FROM range({DOOMED_ROWS}) t(i)"
        )
        con.execute("DELETE FROM bugs WHERE id < 1000000 AND id % 2 = 0")
        print(f"mid-transaction {size_before} {os.path.getsize(path)}", flush=True)
        time.sleep(DOOMED_WAIT_SECONDS)
        raise SystemExit("should have been killed")


if __name__ == "__main__":
    mode, db_path = sys.argv[1], sys.argv[2]
    if mode == "doomed-write":
        doomed_write(db_path)
    else:
        hold(db_path, read_only=mode == "read")
