"""Bus connection options and errors: one line each, never a credential."""

from __future__ import annotations

import socket
import ssl

import nats.errors
import nats.js.errors
import pytest

from bench.nats_server import free_port
from captioner.bus.connection import BusError, BusLink, BusOptions, describe
from captioner.config import BusConfig
from captioner.errors import CaptionerError

URL = "nats://bus.venue:4222"


def test_options_refuse_a_bad_url_or_a_muddled_login():
    with pytest.raises(BusError, match="scheme must be nats:// or tls://") as err:
        BusOptions("https://user:hunter22@bus.venue")
    assert err.value.kind == "url" and "hunter22" not in str(err.value)
    assert isinstance(err.value, CaptionerError) and "nats://HOST:4222" in err.value.hint
    with pytest.raises(BusError, match="a password needs a user"):
        BusOptions(URL, password="pw")
    with pytest.raises(BusError, match="token is used alone"):
        BusOptions(URL, user="u", token="t")
    with pytest.raises(BusError, match="creds and nkey"):
        BusOptions(URL, creds="a.creds", nkey="a.nk")


def test_secrets_stay_out_of_repr_and_messages():
    options = BusOptions("nats://room:urlpass@bus.venue:4222", user="room", password="pw-1",
                         token="")
    assert "pw-1" not in repr(options) and "urlpass" in options.url
    assert options.shown_url == "nats://room:***@bus.venue:4222"
    text = options.scrub("failed for nats://room:urlpass@bus.venue:4222 with pw-1")
    assert text == "failed for nats://room:***@bus.venue:4222 with ***"
    token = BusOptions(URL, token="tok-123")
    assert "tok-123" not in repr(token) and token.scrub("x tok-123 y") == "x *** y"


def test_options_from_the_bus_section():
    cfg = BusConfig(url="tls://bus:4222", room="pavilion-a", user="pavilion-a",
                    password="pw", ca_file="/etc/ca.pem")
    options = BusOptions.from_config(cfg)
    assert (options.url, options.user, options.password, options.ca_file) == (
        "tls://bus:4222", "pavilion-a", "pw", "/etc/ca.pem")
    assert BusOptions.from_config(cfg, url="nats://other:4222").url == "nats://other:4222"
    assert "pw" not in repr(cfg)


def test_login_arguments_and_missing_files(tmp_path):
    assert BusOptions(URL, user="u", password="p").login() == {"user": "u", "password": "p"}
    assert BusOptions(URL, token="t").login() == {"token": "t"}
    creds = tmp_path / "room.creds"
    creds.write_text("-----BEGIN NATS USER JWT-----\n", encoding="utf-8")
    assert BusOptions(URL, creds=str(creds)).login() == {"user_credentials": str(creds)}
    with pytest.raises(BusError, match="no such file") as err:
        BusOptions(URL, nkey=str(tmp_path / "missing.nk")).login()
    assert err.value.kind == "auth"
    assert BusOptions(URL).tls_context() is None
    assert isinstance(BusOptions("tls://bus:4222").tls_context(), ssl.SSLContext)
    with pytest.raises(BusError, match="cannot read the CA file") as err:
        BusOptions(URL, ca_file=str(tmp_path / "none.pem")).tls_context()
    assert err.value.kind == "tls"


def api_error(err_code: int, description: str) -> nats.js.errors.APIError:
    return nats.js.errors.APIError(code=503, err_code=err_code, description=description)


@pytest.mark.parametrize("exc, kind, words", [
    (ConnectionRefusedError(111, "Connect call failed"), "refused", "connection refused"),
    (socket.gaierror(-2, "Name or service not known"), "host", "host not found"),
    (nats.errors.Error("nats: 'Authorization Violation'"), "auth", "refused our credentials"),
    (nats.errors.AuthorizationError(), "auth", "refused our credentials"),
    (nats.js.errors.ServiceUnavailableError(), "jetstream", "has no JetStream"),
    (nats.errors.NoRespondersError(), "jetstream", "has no JetStream"),
    (api_error(10039, "jetstream not enabled for account"), "jetstream", "not enabled"),
    (api_error(10074, "replicas > 1 not supported in non-clustered mode"), "stream",
     "replicas > 1"),
    (TimeoutError(), "timeout", "no answer"),
    (nats.errors.TimeoutError(), "timeout", "no answer"),
    (ssl.SSLCertVerificationError(1, "certificate verify failed"), "tls", "do not trust"),
    (ssl.SSLError(1, "wrong version number"), "tls", "TLS with the bus"),
    (OSError(113, "No route to host"), "refused", "No route to host"),
    (RuntimeError("odd"), "other", "odd"),
])
def test_every_failure_is_one_line_naming_the_url(exc, kind, words):
    options = BusOptions("nats://room:pw-9@bus.venue:4222")
    error = describe(exc, options)
    assert error.kind == kind and words in error.message
    assert "nats://room:***@bus.venue:4222" in error.message
    for text in (error.message, error.hint or ""):
        assert "\n" not in text and "pw-9" not in text
    assert error.hint


async def test_nothing_listening_is_refused_at_once():
    link = BusLink(BusOptions(f"nats://127.0.0.1:{free_port()}", timeout_s=2))
    with pytest.raises(BusError) as err:
        await link.open()
    assert err.value.kind == "refused" and "is nats-server running" in err.value.hint
    assert not link.state.connected and link.state.error is err.value
    await link.close()
