from scoreledger import api


def test_tenant_context_roundtrip(acting, tenant):
    with acting() as conn:
        assert str(conn.execute("SELECT scoreledger.current_tenant() AS t").fetchone()["t"]) == tenant
        assert api.list_tenants(conn)
