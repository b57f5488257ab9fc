"""The ids htmx swaps by come from webapp/dom_ids.py on both sides: the route's target
and the element the page carries."""

from tests.helpers import add
from webapp import dom_ids as ids


async def test_a_step_up_aims_at_the_element_the_card_carries(trader):
    account_id = await add(trader)
    card = await trader.hx("GET", f"/trading-accounts/{account_id}")
    assert f'id="{ids.account(account_id)}"' in card.text
    assert f'id="{ids.account(account_id, "creds")}"' in card.text
    modal = await trader.hx("POST", f"/trading-accounts/{account_id}/view")
    assert modal.headers["HX-Retarget"] == ids.target(ids.MODAL_ROOT)
    assert f'hx-target="{ids.target(ids.account(account_id, "creds"))}"' in modal.text


async def test_the_page_carries_every_section_a_route_retargets(trader):
    page = await trader.page("/settings/security")
    for element in (ids.MODAL_ROOT, ids.API_KEY, ids.TWO_FACTOR, ids.PASSKEYS):
        assert f'id="{element}"' in page.text, element
