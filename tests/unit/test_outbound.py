"""The stage's outbound policy (chalicelib.outbound): which user-supplied URLs the service may call.

Names are resolved by a fake resolver, so no test needs DNS, except the odd
numeric spellings, which the real socket.getaddrinfo reads without asking any
server (that it reads them as 127.0.0.1 is the point). The token fetch is
checked at fetch time with a session that fails on any call, and against a real
HTTP server on loopback for redirects.
"""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from chalicelib.config import Settings
from chalicelib.credentials import (Authenticator, BearerToken, OAuth2ClientCredentials, TokenRefused,
                                    TokenUnavailable, check_outbound)
from chalicelib.errors import InvalidRequest
from chalicelib.messages import PlanMessage
from chalicelib.models import OutputMode, RunStatus
from chalicelib.outbound import MAX_URL_LENGTH, OutboundPolicy
from chalicelib.run import Run
from chalicelib.runs import now_iso
from tests.unit.fakes import employees_csv, wire

FIELD = "authentication.token_url"
IDP = "https://idp.example.com/oauth2/"
TOKEN_URL = IDP + "token"
PUBLIC = "93.184.216.34"
SECRET = "s3cr3t-VALUE-that-must-not-leak-0123456789"


def resolves_to(*addresses: str):
    """A resolver (socket.getaddrinfo's shape) that answers these addresses for any name."""
    def resolve(host, port, family=0, type=0, proto=0, flags=0):
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0)) if ":" in a
                else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]
    return resolve


def no_lookup(*_, **__):
    raise AssertionError("a name was resolved")


def policy(*addresses: str, allowlist=(IDP,), allow_private=False) -> OutboundPolicy:
    return OutboundPolicy(tuple(allowlist), allow_private, resolves_to(*addresses) if addresses else no_lookup)


def refusal(policy: OutboundPolicy, url: str) -> str:
    with pytest.raises(InvalidRequest) as refused:
        policy.check(url, FIELD)
    assert refused.value.status_code == 422
    assert refused.value.detail.startswith(FIELD + ": ")
    return refused.value.detail


# ---------------------------------------------------------------------------- addresses

def test_a_url_on_the_list_that_resolves_to_public_addresses_is_allowed():
    policy(PUBLIC, "2606:2800:220:1:248:1893:25c8:1946").check(TOKEN_URL, FIELD)


@pytest.mark.parametrize("address, kind", [
    ("127.0.0.1", "a loopback address"),
    ("127.255.0.9", "a loopback address"),
    ("::1", "a loopback address"),
    ("169.254.10.1", "a link-local address"),
    ("fe80::1", "a link-local address"),
    ("10.1.2.3", "a private address"),
    ("172.16.0.1", "a private address"),
    ("192.168.1.1", "a private address"),
    ("fc00::1", "a private address"),
    ("fd12:3456::1", "a private address"),
    ("0.0.0.0", "an unspecified address"),
    ("::", "an unspecified address"),
    ("224.0.0.1", "a multicast address"),
    ("ff02::1", "a multicast address"),
    ("240.0.0.1", "a reserved address"),
    ("255.255.255.255", "a reserved address"),
    ("100.64.0.1", "a shared address (100.64.0.0/10)"),
    ("100.127.255.254", "a shared address (100.64.0.0/10)"),
])
def test_each_non_public_kind_of_address_is_refused(address, kind):
    assert refusal(policy(address), TOKEN_URL) == f"{FIELD}: resolves to {kind} ({address})"


@pytest.mark.parametrize("address, reached, kind", [
    ("::ffff:127.0.0.1", "127.0.0.1", "a loopback address"),       # IPv4-mapped
    ("::ffff:10.0.0.1", "10.0.0.1", "a private address"),
    ("::7f00:1", "127.0.0.1", "a loopback address"),                # IPv4-compatible (::127.0.0.1)
    ("2002:7f00:1::", "127.0.0.1", "a loopback address"),           # 6to4
    ("2002:c0a8:101::1", "192.168.1.1", "a private address"),
    ("64:ff9b::7f00:1", "127.0.0.1", "a loopback address"),         # NAT64
    ("64:ff9b::a9fe:a9fe", "169.254.169.254", "a cloud metadata address"),
])
def test_an_ipv6_address_that_carries_an_ipv4_one_is_judged_by_it(address, reached, kind):
    assert refusal(policy(address), TOKEN_URL) == f"{FIELD}: resolves to {kind} ({address}, that is {reached})"


@pytest.mark.parametrize("address", ["::ffff:93.184.216.34", "64:ff9b::5db8:d822"])
def test_an_ipv6_form_of_a_public_ipv4_address_is_allowed(address):
    policy(address).check(TOKEN_URL, FIELD)  # NAT64 (DNS64) networks resolve every public name this way


def test_one_inward_address_among_public_ones_is_enough_to_refuse():
    assert "a private address (10.0.0.7)" in refusal(policy(PUBLIC, "10.0.0.7", PUBLIC), TOKEN_URL)


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.1", "fd00::1", "169.254.1.1", "100.64.0.1"])
def test_a_stage_that_allows_private_addresses_calls_them(address):
    policy(address, allow_private=True).check(TOKEN_URL, FIELD)


@pytest.mark.parametrize("address", ["169.254.169.254", "fd00:ec2::254", "169.254.170.2", "169.254.170.23",
                                     "::ffff:169.254.169.254", "2002:a9fe:a9fe::"])
@pytest.mark.parametrize("allow_private", [False, True])
def test_cloud_metadata_addresses_are_refused_even_where_private_ones_are_allowed(address, allow_private):
    detail = refusal(policy(address, allow_private=allow_private), TOKEN_URL)
    assert detail.startswith(f"{FIELD}: resolves to a cloud metadata address ({address}")


@pytest.mark.parametrize("url", [
    "http://2130706433/token",      # 127.0.0.1 as one number
    "http://0x7f000001/token",
    "http://0x7f.0.0.1/token",
    "http://0177.0.0.1/token",      # octal
    "http://127.1/token",           # the missing parts are zeros
    "http://[::ffff:127.0.0.1]/token",
])
def test_odd_spellings_of_loopback_are_caught_even_when_listed(url):
    # the real resolver: these are numbers, which it reads without asking a DNS server
    listed = OutboundPolicy((url,))
    assert "resolves to a loopback address (" in refusal(listed, url)


def test_odd_spellings_of_the_metadata_address_are_caught_where_private_ones_are_allowed():
    url = "http://2852039166/latest/meta-data/"  # 169.254.169.254
    assert "a cloud metadata address (169.254.169.254)" in refusal(OutboundPolicy((url,), True), url)


def test_localhost_is_loopback():
    assert "a loopback address" in refusal(OutboundPolicy(("http://localhost:8080",)), "http://localhost:8080/t")


def failing(error: Exception):
    def resolve(*_, **__):
        raise error
    return resolve


@pytest.mark.parametrize("resolver", [
    failing(socket.gaierror(socket.EAI_NONAME, "Name or service not known")),
    failing(UnicodeError("label too long")),  # what the IDNA codec says of a label over 63 characters
    resolves_to(),
])
def test_a_host_that_cannot_be_resolved_is_refused(resolver):
    refused = OutboundPolicy((IDP,), resolve=resolver)
    assert refusal(refused, TOKEN_URL) == f"{FIELD}: its host cannot be resolved"


# ---------------------------------------------------------------------------- the allow-list

@pytest.mark.parametrize("entry, url", [
    (IDP, TOKEN_URL),
    (IDP, "https://IDP.Example.COM/oauth2/token"),           # the host in any case
    (IDP, "https://idp.example.com:443/oauth2/token"),       # the default port, written out
    ("https://idp.example.com:443/oauth2/", TOKEN_URL),
    ("http://idp.example.com/", "http://idp.example.com:80/token"),
    ("https://idp.example.com/oauth2", TOKEN_URL),            # the entry's path is a folder, slash or not
    (IDP, "https://idp.example.com/oauth2"),
    (IDP, "https://idp.example.com/oauth2/token?audience=records"),
    ("https://login.example.com", "https://login.example.com"),
    ("https://login.example.com", "https://login.example.com/any/path"),
    ("http://127.0.0.1:8001", "http://127.0.0.1:8001/oauth/token"),
])
def test_a_url_under_an_entry_is_on_the_list(entry, url):
    policy(PUBLIC, allowlist=(entry,)).check(url, FIELD)


@pytest.mark.parametrize("entry, url", [
    (IDP, "http://idp.example.com/oauth2/token"),             # another scheme
    (IDP, "https://idp.example.com:8443/oauth2/token"),       # another port
    ("http://127.0.0.1:8001", "http://127.0.0.1:8002/oauth/token"),
    (IDP, "https://idp.example.com/admin"),                   # outside the entry's folder
    ("https://idp.example.com/oauth2", "https://idp.example.com/oauth2-admin/token"),  # not at a segment boundary
    (IDP, "https://idp.example.com/oauth2-admin/token"),
    ("https://idp.example.com", "https://idp.example.com.evil.example/token"),
    ("https://idp.example.com", "https://evil.example/https://idp.example.com/"),
    ("https://idp.example.com", "https://sub.idp.example.com/token"),
    ("https://idp.example.com", "https://idp.example.com./token"),
    ("http://127.0.0.1:8001", "http://2130706433:8001/oauth/token"),  # the same address, spelt otherwise
])
def test_a_url_not_under_an_entry_is_refused_before_any_lookup(entry, url):
    detail = refusal(policy(allowlist=(entry,)), url)  # no_lookup: resolving would fail the test
    assert detail.endswith("is not on the stage's allow-list")


def test_an_empty_list_refuses_every_url():
    assert refusal(policy(allowlist=()), TOKEN_URL).endswith("is not on the stage's allow-list")


def test_the_stage_list_is_its_entries_and_its_target():
    settings = Settings.from_environ({"STAGE": "test", "TARGET_API_URL": "https://target.example/",
                                      "OUTBOUND_ALLOWLIST": f"{IDP}, https://login.example.com"})
    stage = OutboundPolicy.from_settings(settings)
    assert stage.allowlist == (IDP, "https://login.example.com", "https://target.example")
    assert not stage.allow_private
    assert OutboundPolicy.from_settings(Settings.from_environ(
        {"STAGE": "local", "OUTBOUND_ALLOW_PRIVATE": "true"})).allow_private
    assert OutboundPolicy.from_settings(Settings.from_environ({"STAGE": "test"})).allowlist == ()


@pytest.mark.parametrize("entry", ["idp.example.com", "ftp://idp.example.com/", "https://user@idp.example.com/"])
def test_a_stage_entry_that_is_no_url_prefix_fails_where_the_policy_is_made(entry):
    with pytest.raises(ValueError, match="outbound allow-list entry"):
        OutboundPolicy((entry,))


# ---------------------------------------------------------------------------- the URL itself

@pytest.mark.parametrize("url, why", [
    ("https://user@idp.example.com/oauth2/token", "must not hold a user name or password before the host"),
    (f"https://client:{SECRET}@idp.example.com/oauth2/token", "must not hold a user name or password"),
    ("https://idp.example.com@127.0.0.1/oauth2/token", "must not hold a user name or password"),
    ("https://idp.example.com/oauth2/token#frag", "must not hold a fragment"),
    ("https://idp.example.com/oauth2/token#", "must not hold a fragment"),
    ("ftp://idp.example.com/oauth2/token", "must be an http(s) URL"),
    ("file:///etc/passwd", "must be an http(s) URL"),
    ("gopher://idp.example.com/oauth2/", "must be an http(s) URL"),
    ("//idp.example.com/oauth2/token", "must be an http(s) URL"),
    ("https://idp.example.com/oauth2/ token", "must be printable ASCII"),
    ("https://idp.example.com/oauth2/\ttoken", "must be printable ASCII"),
    ("https://idp.example.com/oauth2/token\r\nHost: evil", "must be printable ASCII"),
    ("https://idp.example.com\x00.evil.example/oauth2/token", "must be printable ASCII"),
    (" https://idp.example.com/oauth2/token", "must be printable ASCII"),
    ("https://idp.example.com\\@evil.example/oauth2/", "backslashes"),
    ("https://ｉdp.example.com/oauth2/token", "must be printable ASCII"),  # a fullwidth letter
    ("https://idp.example.com/oauth2/../admin", "must not hold . or .. path segments"),
    ("https://idp.example.com/oauth2/%2e%2e/admin", "must not hold . or .. path segments"),
    ("https://idp.example.com/oauth2/x%2f..%2f..%2fadmin", "must not hold . or .. path segments"),
    ("https://idp.example.com/oauth2/./token", "must not hold . or .. path segments"),
    ("https://idp.example.com:99999/oauth2/token", "is not a valid URL"),
    ("https://idp.example.com:port/oauth2/token", "is not a valid URL"),
    ("https://[::1/oauth2/token", "is not a valid URL"),
    ("https:///oauth2/token", "must name a host"),
    (IDP + "a" * MAX_URL_LENGTH, f"must be at most {MAX_URL_LENGTH} characters"),
])
def test_a_url_any_parser_could_read_otherwise_is_refused_and_not_echoed(url, why):
    detail = refusal(policy(PUBLIC), url)
    assert why in detail
    assert url not in detail and SECRET not in detail


def test_a_refused_url_is_quoted_short_without_its_query():
    url = "https://evil.example/" + "x" * 3000
    detail = refusal(policy(allowlist=(IDP,)), url[:MAX_URL_LENGTH])
    assert detail == f"{FIELD}: 'https://evil.example/{'x' * 39}…' is not on the stage's allow-list"
    detail = refusal(policy(), f"https://evil.example/token?client_secret={SECRET}")
    assert detail == f"{FIELD}: 'https://evil.example/token…' is not on the stage's allow-list"


def test_a_short_url_is_quoted_whole():
    detail = refusal(policy(), "https://evil.example/token")
    assert detail == f"{FIELD}: 'https://evil.example/token' is not on the stage's allow-list"


# ---------------------------------------------------------------------------- at trigger and retry

def oauth(token_url: str = TOKEN_URL, **changes) -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials(token_url=token_url, client_id="migration-client", client_secret=SECRET,
                                   **changes)


def test_check_outbound_holds_the_token_url_to_the_policy_and_names_the_field():
    check_outbound(oauth(), policy(PUBLIC))
    with pytest.raises(InvalidRequest) as refused:
        check_outbound(oauth(), policy("169.254.169.254"))
    assert refused.value.detail == f"{FIELD}: resolves to a cloud metadata address (169.254.169.254)"
    with pytest.raises(InvalidRequest, match=r"^retry\.authentication\.token_url: "):
        check_outbound(oauth("https://evil.example/t"), policy(), field_prefix="retry.authentication")


def test_check_outbound_has_nothing_to_check_for_credentials_that_call_nowhere():
    check_outbound(None, policy())
    check_outbound(BearerToken(token=SECRET), policy())  # no_lookup: nothing is resolved


# ---------------------------------------------------------------------------- at fetch time

class NoCalls:
    """A session that fails the test if anything is called through it."""

    def post(self, *args, **kwargs):
        raise AssertionError(f"a call went out: {args} {kwargs}")


class TokenEndpoint:
    """A session whose post answers a token, recording how it was called."""

    def __init__(self):
        self.calls: list[dict] = []

    def post(self, url, **kwargs):
        self.calls.append({"url": url, **kwargs})
        response = requests.Response()
        response.status_code, response._content = 200, b'{"access_token": "token-1", "expires_in": 3600}'
        return response


@pytest.mark.parametrize("token_url, outbound, why", [
    ("http://169.254.169.254/latest/meta-data/iam/", OutboundPolicy(("http://169.254.169.254/",), True),
     "resolves to a cloud metadata address (169.254.169.254)"),
    ("http://127.0.0.1:9/oauth/token", OutboundPolicy(("http://127.0.0.1:9",)),
     "resolves to a loopback address (127.0.0.1)"),
    # allowed at trigger, and by the time of the fetch the name resolves inward
    (TOKEN_URL, policy("10.0.0.5"), "resolves to a private address (10.0.0.5)"),
    ("https://evil.example/token", policy(), "is not on the stage's allow-list"),
])
def test_the_token_fetch_refuses_without_calling_out(token_url, outbound, why):
    authenticator = Authenticator(oauth(token_url, scope="fetch-time"), NoCalls(), outbound=outbound)
    with pytest.raises(TokenRefused) as refused:
        authenticator.headers()
    assert str(refused.value).startswith(f"{FIELD}: ") and why in str(refused.value)
    assert SECRET not in str(refused.value) and isinstance(refused.value, TokenUnavailable)


def test_an_allowed_token_fetch_follows_no_redirect():
    session = TokenEndpoint()
    credentials = oauth(scope="allowed-fetch")
    try:
        assert Authenticator(credentials, session, outbound=policy(PUBLIC)).headers() == \
            {"Authorization": "Bearer token-1"}
    finally:
        credentials.invalidate()  # the token cache is the process's
    assert session.calls[0]["url"] == TOKEN_URL and session.calls[0]["allow_redirects"] is False


@pytest.fixture
def redirecting_token_endpoint():
    """A real HTTP server on loopback whose token endpoint answers 302 to another path; it notes each path asked."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            asked.append(self.path)
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path == "/oauth/token":
                self.send_response(302)
                self.send_header("Location", "/inner/token")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = json.dumps({"access_token": "inner-token"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # shutdown() waits for the server's next poll; socketserver's default 0.5 s was idle time on every use
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    server.url, server.asked = f"http://127.0.0.1:{server.server_address[1]}", asked
    yield server
    server.shutdown()
    server.server_close()


def test_a_redirect_from_the_token_url_is_a_failure_not_followed(redirecting_token_endpoint):
    # GIVEN a stage that allows private addresses, and a token URL on its list that answers 302 elsewhere
    server = redirecting_token_endpoint
    outbound = OutboundPolicy((f"{server.url}/oauth/",), allow_private=True)
    with requests.Session() as session:
        authenticator = Authenticator(oauth(f"{server.url}/oauth/token", scope="redirect"), session, outbound=outbound)
        # WHEN a token is fetched
        with pytest.raises(TokenUnavailable, match="answered 302, a redirect, which is not followed"):
            authenticator.headers()
    # THEN the redirect's target was never asked
    assert server.asked == ["/oauth/token"]


# ---------------------------------------------------------------------------- in the worker

def test_the_worker_fails_each_chunk_whose_token_url_now_resolves_inward_without_calling_out(tmp_path):
    # GIVEN a queued run whose token URL was allowed at trigger and now resolves to the metadata address
    w = wire(tmp_path, CHUNK_RECORDS="2", TARGET_API_URL="https://target.example", OUTBOUND_ALLOWLIST=IDP)
    w.write("data/input/employees.csv", employees_csv(3))
    reference = w.vault.store_for_run("run-1", oauth().to_secret())
    w.store.create(Run("run-1", "data/input/employees.csv", "employee", OutputMode.API, now_iso(),
                       own_credentials=True, credentials_ref=reference))
    worker = w.worker
    assert worker.outbound == OutboundPolicy.from_settings(w.settings)  # the stage's policy by default
    worker.outbound = OutboundPolicy(worker.outbound.allowlist, resolve=resolves_to("169.254.169.254"))
    worker.http = NoCalls()
    # WHEN the worker plans the run and handles its chunks, once each
    worker.handle(PlanMessage("run-1").to_json())
    for message in w.queue.take():
        worker.handle(message.to_json())
    # THEN no call went out; each chunk failed at once (no retry can help), its records errors that say why
    run = w.store.get("run-1")
    assert (run.chunks_failed, run.chunks_done, run.error_count, run.status) == (2, 0, 3, RunStatus.FAILED)
    errors_folder = tmp_path / "data/output/run-1/errors"
    report = "".join(p.read_text() for p in sorted(errors_folder.iterdir()))
    assert report.count("resolves to a cloud metadata address (169.254.169.254)") == 3
    assert SECRET not in report
