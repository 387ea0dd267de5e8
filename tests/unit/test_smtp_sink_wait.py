"""The test SMTP sink waits for mail a busy live server sends late."""

from __future__ import annotations

import smtplib
import threading
import time
from email.message import EmailMessage


def test_a_code_mailed_late_is_waited_for(smtp):
    message = EmailMessage()
    message["From"], message["To"] = "ne-pas-repondre@caf.example", "lent@exemple.fr"
    message["Subject"] = "Votre code de connexion à Mon Compte"
    message.set_content("Votre code :\n\n314159\n")

    def send_late() -> None:
        time.sleep(6)  # a live node and its worker under load
        with smtplib.SMTP("127.0.0.1", smtp.port, timeout=30) as client:
            client.send_message(message)

    threading.Thread(target=send_late, daemon=True).start()
    assert smtp.last_code("lent@exemple.fr") == "314159"
