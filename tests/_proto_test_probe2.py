import time, traceback, sys
from typing import Any

def test_probe(clients: Any, world: Any, db_kind: str) -> None:
    try:
        o = clients("office")
        s = clients("subcenter_sh")
        r = s.post(f"/api/v1/applications/{world['applications']['sz']}/decision", json={"decision": "approve"})
        print("dec", r.status_code, file=sys.stderr)
        t = time.time()
        for u in ["leader", "liaison_xz", "workstation_1"]:
            clients(u)
        print("3 logins", time.time() - t, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
        raise
    print("END", file=sys.stderr)
