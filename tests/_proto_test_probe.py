import time
from typing import Any

def test_probe(clients: Any, world: Any, db_kind: str) -> None:
    t = time.time()
    o = clients("office")
    print("login", time.time() - t)
    anon = clients()
    r = anon.post("/api/v1/enterprises", json={"name": "x", "credit_code": "x", "region_code": "310115"})
    print("anon post", r.status_code, r.headers.get("content-type"), r.headers.get("www-authenticate"), r.text[:200])
    r = anon.get("/api/v1/enterprises")
    print("anon get", r.status_code, r.headers.get("content-type"), r.headers.get("www-authenticate"), r.text[:200])
    s = clients("subcenter_sh")
    r = s.post("/api/v1/applications", json={"kind": "workstation", "name": "x工作站", "region_code": "320505", "parent_node": "sc-suzhou",
        "host_enterprise_id": str(world["enterprises"]["sz"]), "head_name": "a", "head_phone": "13900000003"})
    print("app", r.status_code, r.text[:300])
    r = s.post("/api/v1/enterprises", json={"name": "x", "credit_code": "91310115000000011X", "region_code": "310115", "node": "sc-suzhou"})
    print("ent", r.status_code, r.text[:300])
    r = s.post(f"/api/v1/applications/{world['applications']['sz']}/decision", json={"decision": "approve"})
    print("dec", r.status_code, r.text[:300])
    r = o.get("/api/v1/nodes")
    print([n["id"] for n in r.json()["items"]])
    t = time.time()
    for u in ["leader", "liaison_xz", "workstation_1"]:
        clients(u)
    print("3 logins", time.time() - t)
