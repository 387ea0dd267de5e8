"""The pages' HTML as served: the accessibility statement and the footers that link to it."""

from __future__ import annotations

import pytest


def test_the_accessibility_statement_follows_the_rgaa_model(client):
    response = client.get("/accessibilite")
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    page = response.get_data(as_text=True)
    for section in (
        "Déclaration d'accessibilité",
        "État de conformité",
        "non conformes",
        "Contenus non accessibles",
        "Dérogations pour charge disproportionnée",
        "Établissement de cette déclaration",
        "Retour d'information et contact",
        "Voies de recours",
        "Défenseur des droits",
    ):
        assert section in page, section


@pytest.mark.parametrize("path", ["/", "/aidant"])
def test_both_pages_link_to_the_statement_and_start_with_empty_live_regions(client, path):
    page = client.get(path).get_data(as_text=True)
    assert '<a href="/accessibilite">Accessibilité : non conforme</a>' in page
    assert 'id="message" class="message" role="status" aria-live="polite"' in page
    assert 'id="alert" class="message error" role="alert" aria-live="assertive"' in page
    assert 'aria-atomic="true"></div>' in page  # empty at load
