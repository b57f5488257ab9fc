async def test_healthz(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.text == "ok"


async def test_register_and_see_security_page(trader):
    page = await trader.page("/settings/security")
    assert page.status_code == 200
    assert "at_" in page.text and "••••" in page.text
    assert ">Security<" in page.text
