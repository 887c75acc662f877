"""The request models (chalicelib.models) and the credentials types (chalicelib.credentials) on their own.

What a trigger or retry body may say, checked by the pydantic models with
strict types and no unknown keys; the 422 wording "<field path>: <why>"; the
headers each credentials type sends; their stored form; secrets kept out of
reprs and error text; and the JSON Schema the OpenAPI description comes from.
"""
from __future__ import annotations

import base64
import json
import subprocess
import sys

import pytest
from pydantic import ValidationError

from chalicelib import credentials as credentials_module
from chalicelib.credentials import (CREDENTIAL_TYPES, ApiKey, Authenticator, Basic, BearerToken, Credentials,
                                    OAuth2ClientCredentials, TokenUnavailable)
from chalicelib.errors import InvalidRequest, cut
from chalicelib.models import (DEFAULT_BATCH_SIZE, DEFAULT_MAX_ERROR_RATE, DEFAULT_OUTPUT_DIR, InputFormat,
                               MigrationRequest, OutputMode, RetryRequest)
from chalicelib.service import request_fingerprint
from local_stack.environment import PROJECT_DIR

SECRET = "s3cr3t-VALUE-that-must-not-leak-0123456789"
RECORD_TYPES = ["claim", "disability"]
GOOD = {"file_path": "data/input/claims.csv", "record_type": "disability", "output_mode": "file"}
CREDENTIALS = {
    "bearer_token": {"type": "bearer_token", "token": SECRET},
    "api_key": {"type": "api_key", "header": "X-Key", "key": SECRET},
    "basic": {"type": "basic", "username": "migration", "password": SECRET},
    "oauth2_client_credentials": {"type": "oauth2_client_credentials", "token_url": "https://auth.example/token",
                                  "client_id": "migration-client", "client_secret": SECRET, "scope": "records"},
}


def parse(**changes) -> MigrationRequest:
    return MigrationRequest.from_body({**GOOD, **changes}, RECORD_TYPES)


def refusal(body) -> str:
    with pytest.raises(InvalidRequest) as caught:
        MigrationRequest.from_body(body, RECORD_TYPES)
    assert caught.value.status_code == 422
    return caught.value.detail


@pytest.fixture(autouse=True)
def no_cached_tokens():
    credentials_module._token_cache.clear()
    yield
    credentials_module._token_cache.clear()


# ----------------------------------------------------------------------------- a good request

def test_a_minimal_request_takes_the_defaults():
    request = parse()
    assert (request.file_path, request.record_type, request.output_mode) == (
        "data/input/claims.csv", "disability", OutputMode.FILE)
    assert (request.output_dir, request.batch_size, request.authentication, request.metadata,
            request.max_error_rate, request.input_format, request.validate_only) == (
        DEFAULT_OUTPUT_DIR, DEFAULT_BATCH_SIZE, None, {}, DEFAULT_MAX_ERROR_RATE, InputFormat(), False)


def test_every_field_is_read_strings_trimmed_and_numbers_as_given():
    request = parse(file_path=" data/input/c.dat ", record_type=" claim ", output_mode=" api ", output_dir="out",
                    batch_size=7, authentication=CREDENTIALS["basic"], metadata={"batch": [1, 2]}, max_error_rate=1,
                    input_format={"type": "fixed_width", "recfm": "VB"}, validate_only=True)
    assert (request.file_path, request.record_type, request.output_mode, request.output_dir) == (
        "data/input/c.dat", "claim", OutputMode.API, "out")
    assert request.batch_size == 7 and request.metadata == {"batch": [1, 2]} and request.validate_only is True
    assert request.max_error_rate == 1.0 and isinstance(request.max_error_rate, float)
    assert isinstance(request.authentication, Basic) and request.authentication.username == "migration"
    assert request.input_format == InputFormat(type="fixed_width", header=False, encoding="cp037",
                                               record_separator="none", recfm="VB")


@pytest.mark.parametrize("field", ["output_dir", "metadata", "input_format", "authentication"])
def test_null_for_an_optional_object_or_folder_is_its_default(field):
    assert getattr(parse(**{field: None}), field) == getattr(parse(), field)


def test_the_request_is_immutable():
    with pytest.raises(ValidationError):
        parse().batch_size = 5


# ----------------------------------------------------------------------------- bounds and echoes

LONG_NAME = "field_" + "x" * 500


@pytest.mark.parametrize("change, detail", [
    # a path within S3's key limit, counted in UTF-8 bytes (an é is two), with room for a run's outputs
    ({"file_path": "d/" + "x" * 1023}, "file_path: must be at most 1024 bytes (UTF-8) long within the bucket"),
    ({"file_path": "é" * 513}, "file_path: must be at most 1024 bytes"),
    ({"output_dir": "o" * 961}, "output_dir: must be at most 960 bytes"),
    # what no run item, S3 key or log line should hold
    ({"file_path": "data/input/a\nb.csv"}, "file_path: must not hold control characters"),
    ({"file_path": "data/input/a\x00.csv"}, "file_path: must not hold control characters"),
    ({"file_path": "data/\x1b[31minput.csv"}, "file_path: must not hold control characters"),
    ({"output_dir": "out\x85put"}, "output_dir: must not hold control characters"),
    ({"file_path": "data/\ud800.csv"}, "file_path: holds a lone surrogate, which is no character"),
    # a URL is the stage's own bucket or nothing
    ({"file_path": "https://example.com/x.csv"}, "file_path: a URL must be s3://<the stage's data bucket>/<key>"),
    ({"file_path": "file:///etc/passwd"}, "file_path: a URL must be s3://"),
    ({"output_dir": "S3://other/out"}, "output_dir: a URL must be s3://"),
    ({"record_type": "r" * 65}, "record_type: must be at most 64 characters"),
    ({"input_format": {"encoding": "utf-8" * 10}}, "input_format.encoding: must be one of"),
    # credentials: bounded and encodable, and never quoted
    ({"authentication": {"type": "bearer_token", "token": "t" * 8193}},
     "authentication.token: must be at most 8192 characters"),
    ({"authentication": {"type": "basic", "username": "u", "password": "p\udfff"}},
     "authentication.password: holds a lone surrogate, which is no character"),
    ({"authentication": {"token": "t" * 8193}}, "authentication.token: must be at most 8192 characters"),
])
def test_every_string_is_bounded_and_storable(change, detail):
    assert refusal({**GOOD, **change}).startswith(detail)


@pytest.mark.parametrize("change", [
    {"file_path": "d/" + "x" * 1022},
    {"file_path": "é" * 512},
    {"file_path": "s3://records-migration-data-test/" + "k" * 1024},
    {"output_dir": "o" * 960},
    {"file_path": "data/input/rapport: été 2024 ☃.csv"},
    {"authentication": {"type": "bearer_token", "token": "t" * 8192}},
])
def test_a_string_at_its_bound_is_taken(change):
    assert parse(**change)


@pytest.mark.parametrize("body, shown", [
    ({**GOOD, LONG_NAME: 1}, LONG_NAME[:60] + "…: unknown field"),
    ({**GOOD, "input_format": {LONG_NAME: 1}}, ("input_format." + LONG_NAME)[:60] + "…: unknown field"),
    ({**GOOD, "authentication": {"type": "bearer_token", "token": "t", LONG_NAME: 1}},
     "authentication." + LONG_NAME[:60] + "…: unknown field for bearer_token"),
    ({**GOOD, "record_type": "y" * 64}, "record_type: unknown record type '" + "y" * 60 + "…'"),
    ({**GOOD, "bad\r\nX-Injected: 1": 1}, "bad\ufffd\ufffdX-Injected: 1: unknown field"),
    ({**GOOD, "metadata": {"k" * 65: 1}}, "metadata: key '" + "k" * 16 + "…' is longer than 64 characters"),
])
def test_a_detail_quotes_the_caller_s_input_cut_short_and_printable(body, shown):
    detail = refusal(body)
    assert detail.startswith(shown)
    assert "x" * 61 not in detail and "y" * 61 not in detail and detail.isprintable()


@pytest.mark.parametrize("text, shown", [
    ("short", "short"),
    ("x" * 60, "x" * 60),
    ("x" * 61, "x" * 60 + "…"),
    ("a\r\nb\x00c\x1b\u202ed\ud800", "a\ufffd\ufffdb\ufffdc\ufffd\ufffdd\ufffd"),
    (12345, "12345"),
])
def test_cut_keeps_a_short_printable_prefix(text, shown):
    assert cut(text) == shown


def test_cut_reads_only_the_prefix_of_a_long_input():
    assert cut("é" * 10_000_000, 3) == "ééé…"


def test_a_retry_s_credentials_are_bounded_too():
    with pytest.raises(InvalidRequest) as caught:
        RetryRequest.from_body({"authentication": {"type": "api_key", "key": "k" * 9000}})
    assert caught.value.detail == "authentication.key: must be at most 8192 characters"


# ----------------------------------------------------------------------------- strict types

@pytest.mark.parametrize("change, detail", [
    ({"batch_size": "10"}, "batch_size: must be an integer"),
    ({"batch_size": True}, "batch_size: must be an integer"),
    ({"batch_size": 10.0}, "batch_size: must be an integer"),
    ({"batch_size": None}, "batch_size: must be an integer"),
    ({"batch_size": 0}, "batch_size: must be between 1 and 1000"),
    ({"batch_size": 1001}, "batch_size: must be between 1 and 1000"),
    ({"validate_only": "true"}, "validate_only: must be true or false"),
    ({"validate_only": 1}, "validate_only: must be true or false"),
    ({"max_error_rate": True}, "max_error_rate: must be a number from 0 to 1"),
    ({"max_error_rate": "0.5"}, "max_error_rate: must be a number from 0 to 1"),
    ({"max_error_rate": 1.5}, "max_error_rate: must be a number from 0 to 1"),
    ({"max_error_rate": -0.1}, "max_error_rate: must be a number from 0 to 1"),
    ({"max_error_rate": float("nan")}, "max_error_rate: must be a number from 0 to 1"),
    ({"file_path": 5}, "file_path: must be a non-empty string"),
    ({"file_path": "   "}, "file_path: must be a non-empty string"),
    ({"record_type": ""}, "record_type: must be a non-empty string"),
    ({"output_mode": 1}, "output_mode: must be a non-empty string"),
    ({"output_mode": "ftp"}, "output_mode: must be one of api, file"),
    ({"output_dir": ""}, "output_dir: must be a non-empty string"),
    ({"metadata": "x"}, "metadata: must be an object"),
    ({"metadata": []}, "metadata: must be an object"),
    ({"metadata": {"note": "x" * 5000}}, "metadata: must be at most 4096 bytes as JSON"),
    ({"record_type": "pension"}, "record_type: unknown record type 'pension' (supported: claim, disability)"),
    ({"input_format": "csv"}, "input_format: must be an object"),
    ({"input_format": {"header": "yes"}}, "input_format.header: must be true or false"),
    ({"input_format": {"header": None}}, "input_format.header: must be true or false"),
    ({"input_format": {"type": "xml"}}, "input_format.type: must be delimited or fixed_width"),
    ({"input_format": {"delimiter": "#"}}, 'input_format.delimiter: must be one of , | ; \\t (or "tab")'),
    ({"input_format": {"record_separator": "crlf"}}, "input_format.record_separator: must be newline or none"),
    ({"input_format": {"type": "fixed_width", "header": True}},
     "input_format.header: fixed-width files have no header row"),
    ({"input_format": {"encoding": "cp037"}}, "input_format.encoding: EBCDIC is supported for fixed-width files only"),
    ({"input_format": {"recfm": "F"}}, "input_format.recfm: must be F, FB, V or VB, for fixed-width files only"),
    ({"input_format": {"type": "fixed_width", "recfm": "U"}},
     "input_format.recfm: must be F, FB, V or VB, for fixed-width files only"),
    ({"input_format": {"type": "fixed_width", "recfm": "V", "record_separator": "newline"}},
     "input_format.record_separator: variable-length records (V, VB) have none"),
])
def test_a_wrong_value_is_refused_naming_the_field_and_why(change, detail):
    assert refusal({**GOOD, **change}) == detail


@pytest.mark.parametrize("encoding", ["utf-16", 5, None])
def test_an_unknown_encoding_lists_those_known(encoding):
    detail = refusal({**GOOD, "input_format": {"encoding": encoding}})
    assert detail.startswith("input_format.encoding: must be one of ascii, cp037, ")


@pytest.mark.parametrize("missing", ["file_path", "record_type", "output_mode"])
def test_a_missing_field_is_named(missing):
    assert refusal({k: v for k, v in GOOD.items() if k != missing}) == f"{missing}: field required"


@pytest.mark.parametrize("body", [[1, 2], "x", None, 3])
def test_a_body_that_is_not_an_object_is_refused(body):
    assert refusal(body) == "body: must be a JSON object"


def test_problems_are_answered_in_the_order_the_api_always_used():
    # an unknown field first, then a missing one, then the fields in order
    assert refusal({"colour": "blue", "batch_size": "x"}).startswith("colour: unknown field")
    assert refusal({"file_path": 5, "output_mode": "file"}) == "record_type: field required"
    assert refusal({**GOOD, "batch_size": "x", "validate_only": "x"}) == "batch_size: must be an integer"


# ----------------------------------------------------------------------------- unknown keys

def test_an_unknown_field_is_refused_with_the_fields_allowed():
    assert refusal({**GOOD, "colour": "blue"}) == (
        "colour: unknown field (allowed: authentication, batch_size, file_path, input_format, max_error_rate, "
        "metadata, notify, output_dir, output_mode, record_type, validate_only)")


def test_an_unknown_format_key_is_refused_with_the_keys_allowed():
    assert refusal({**GOOD, "input_format": {"quote": "'"}}) == (
        "input_format.quote: unknown field (allowed: delimiter, encoding, header, recfm, record_separator, type)")


@pytest.mark.parametrize("kind, allowed", [
    ("bearer_token", "token"), ("api_key", "header, key"), ("basic", "username, password"),
    ("oauth2_client_credentials", "token_url, client_id, client_secret, scope"),
])
def test_an_unknown_credentials_key_is_refused_with_the_type_s_keys(kind, allowed):
    detail = refusal({**GOOD, "authentication": {**CREDENTIALS[kind], "pin": SECRET}})
    assert detail == f"authentication.pin: unknown field for {kind} (allowed: {allowed})"


@pytest.mark.parametrize("body", [{"batch_size": 10}, {"authentication": None, "x": 1}, [1], "x"])
def test_a_retry_takes_nothing_but_authentication(body):
    with pytest.raises(InvalidRequest) as caught:
        RetryRequest.from_body(body)
    assert caught.value.detail == "body: only 'authentication' and 'notify' may be given to a retry"


def test_a_retry_body_may_be_empty_or_carry_credentials():
    assert RetryRequest.from_body(None).authentication is None
    assert RetryRequest.from_body({}).authentication is None
    again = RetryRequest.from_body({"authentication": CREDENTIALS["bearer_token"]}).authentication
    assert again == BearerToken(token=SECRET)
    with pytest.raises(InvalidRequest, match=r"^authentication\.token: must be a non-empty string$"):
        RetryRequest.from_body({"authentication": {"type": "bearer_token"}})


# ----------------------------------------------------------------------------- credentials

@pytest.mark.parametrize("authentication, detail", [
    ({"type": "bearer_token"}, "authentication.token: must be a non-empty string"),
    ({"type": "bearer_token", "token": ""}, "authentication.token: must be a non-empty string"),
    ({"type": "bearer_token", "token": 12345}, "authentication.token: must be a non-empty string"),
    ({"type": "kerberos", "token": "x"},
     "authentication.type: must be one of bearer_token, api_key, basic, oauth2_client_credentials"),
    ({"token": "x"}, "authentication.type: must be one of bearer_token, api_key, basic, oauth2_client_credentials"),
    ("token", "authentication: must be an object"),
    ({"type": "api_key", "key": "k", "header": "X Key"}, "authentication.header: must be an HTTP header name"),
    ({"type": "api_key", "key": "k", "header": ""}, "authentication.header: must be a non-empty string"),
    ({"type": "api_key", "header": "X-Key"}, "authentication.key: must be a non-empty string"),
    ({"type": "basic", "username": "u"}, "authentication.password: must be a non-empty string"),
    ({"type": "oauth2_client_credentials", "token_url": "ftp://auth", "client_id": "c", "client_secret": "s"},
     "authentication.token_url: must be an http(s) URL"),
    ({"type": "oauth2_client_credentials", "token_url": "https://auth", "client_secret": "s"},
     "authentication.client_id: must be a non-empty string"),
    ({"type": "oauth2_client_credentials", "token_url": "https://auth", "client_id": "c", "client_secret": "s",
      "scope": ""}, "authentication.scope: must be a non-empty string"),
])
def test_wrong_credentials_are_refused_naming_the_field(authentication, detail):
    assert refusal({**GOOD, "authentication": authentication}) == detail


@pytest.mark.parametrize("kind, cls", [("bearer_token", BearerToken), ("api_key", ApiKey), ("basic", Basic),
                                       ("oauth2_client_credentials", OAuth2ClientCredentials)])
def test_each_type_is_its_own_class_chosen_by_type(kind, cls):
    assert CREDENTIAL_TYPES[kind] is cls and cls.kind() == kind
    assert type(parse(authentication=CREDENTIALS[kind]).authentication) is cls


def test_a_bearer_token_is_sent_as_authorization_bearer():
    assert BearerToken(token="abc").headers() == {"Authorization": "Bearer abc"}


def test_an_api_key_is_sent_in_its_header_x_api_key_by_default():
    assert ApiKey(key="k1").headers() == {"X-API-Key": "k1"}
    assert ApiKey(key="k1", header="X-Target-Key").headers() == {"X-Target-Key": "k1"}
    assert ApiKey(key="k1", header=None).header == "X-API-Key"


def test_basic_credentials_are_sent_base64_encoded():
    header = Basic(username="migration", password="p:w").headers()["Authorization"]
    assert header.startswith("Basic ") and base64.b64decode(header[6:]) == b"migration:p:w"


class FakeResponse:
    def __init__(self, status_code: int, body):
        self.status_code = status_code
        self._body = body

    def json(self):
        if isinstance(self._body, Exception):
            raise self._body
        return self._body


class FakeTokenEndpoint:
    """A session whose post answers token requests: a new token each call, or what it is told."""

    def __init__(self, answer=None, expires_in: float = 3600):
        self.calls: list[dict] = []
        self.answer = answer
        self.expires_in = expires_in

    def post(self, url, data=None, auth=None, timeout=None, allow_redirects=True):
        self.calls.append({"url": url, "data": data, "auth": auth, "timeout": timeout,
                           "allow_redirects": allow_redirects})
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer or FakeResponse(200, {"access_token": f"token-{len(self.calls)}",
                                                 "expires_in": self.expires_in})


def oauth(**changes) -> OAuth2ClientCredentials:
    return OAuth2ClientCredentials.model_validate({**CREDENTIALS["oauth2_client_credentials"], **changes})


def test_oauth2_fetches_a_token_with_its_client_credentials_and_caches_it():
    session = FakeTokenEndpoint()
    credentials = oauth()
    assert credentials.headers(session) == {"Authorization": "Bearer token-1"}
    assert credentials.headers(session) == {"Authorization": "Bearer token-1"}
    assert oauth().headers(session) == {"Authorization": "Bearer token-1"}  # equal credentials share the token
    assert session.calls == [{"url": "https://auth.example/token", "auth": ("migration-client", SECRET),
                              "data": {"grant_type": "client_credentials", "scope": "records"}, "timeout": 30,
                              "allow_redirects": False}]  # the allow-list checked this URL, not a redirect's
    assert credentials.refreshable and not BearerToken(token="t").refreshable


def test_oauth2_without_a_scope_asks_for_none():
    session = FakeTokenEndpoint()
    oauth(scope=None).headers(session)
    assert session.calls[0]["data"] == {"grant_type": "client_credentials"}


def test_oauth2_fetches_again_a_minute_before_expiry_and_after_invalidate():
    session = FakeTokenEndpoint(expires_in=120)
    now = [1000.0]
    credentials = oauth()
    assert credentials.headers(session, clock=lambda: now[0])["Authorization"] == "Bearer token-1"
    now[0] += 59
    assert credentials.headers(session, clock=lambda: now[0])["Authorization"] == "Bearer token-1"
    now[0] += 2  # within a minute of expiry
    assert credentials.headers(session, clock=lambda: now[0])["Authorization"] == "Bearer token-2"
    credentials.invalidate()
    assert credentials.headers(session, clock=lambda: now[0])["Authorization"] == "Bearer token-3"


def test_another_client_secret_is_another_token():
    session = FakeTokenEndpoint()
    assert oauth().headers(session) != oauth(client_secret="other").headers(session)


@pytest.mark.parametrize("answer, message", [
    (FakeResponse(401, {}), "the token URL answered 401"),
    (FakeResponse(200, {"token": "x"}), "the token URL's answer holds no access_token"),
    (FakeResponse(200, ValueError("not JSON")), "the token URL's answer holds no access_token"),
])
def test_no_token_is_token_unavailable(answer, message):
    with pytest.raises(TokenUnavailable, match=message):
        oauth().headers(FakeTokenEndpoint(answer))


def test_a_token_url_that_does_not_answer_is_token_unavailable():
    import requests
    with pytest.raises(TokenUnavailable, match=r"did not answer \(ConnectionError\)"):
        oauth().headers(FakeTokenEndpoint(requests.ConnectionError(SECRET)))


def test_oauth2_needs_a_session():
    with pytest.raises(ValueError, match="need a session"):
        oauth().headers()


def test_the_authenticator_binds_credentials_model_or_stored_to_a_session():
    session = FakeTokenEndpoint()
    assert Authenticator(None, session).headers() == {} and not Authenticator(None, session).refreshable
    assert Authenticator(BearerToken(token="t"), session).headers() == {"Authorization": "Bearer t"}
    assert Authenticator({"type": "bearer_token", "token": "t"}, session).headers() == {"Authorization": "Bearer t"}
    frozen = Authenticator(oauth(), session, clock=lambda: 0.0)
    assert frozen.refreshable and frozen.headers() == {"Authorization": "Bearer token-1"}
    frozen.invalidate()
    assert frozen.headers() == {"Authorization": "Bearer token-2"}


# ----------------------------------------------------------------------------- the stored form

@pytest.mark.parametrize("kind", list(CREDENTIALS))
def test_the_stored_form_is_the_request_s_json_and_reads_back(kind):
    credentials = parse(authentication=CREDENTIALS[kind]).authentication
    assert credentials.to_secret() == CREDENTIALS[kind]
    assert json.loads(json.dumps(credentials.to_secret())) == CREDENTIALS[kind]
    assert Credentials.from_secret(credentials.to_secret()) == credentials


def test_the_stored_form_fills_in_defaults_and_leaves_out_what_was_not_given():
    # as secrets were always stored: the api key's header filled in, no scope when none was asked for
    assert parse(authentication={"type": "api_key", "key": "k"}).authentication.to_secret() == {
        "type": "api_key", "header": "X-API-Key", "key": "k"}
    stored = {k: v for k, v in CREDENTIALS["oauth2_client_credentials"].items() if k != "scope"}
    assert parse(authentication=stored).authentication.to_secret() == stored


def test_secrets_stored_before_still_load_and_keys_no_type_knows_are_ignored():
    stored = {"type": "api_key", "key": "k", "comment": "rotated 2026-01"}
    assert Credentials.from_secret(stored) == ApiKey(key="k")


@pytest.mark.parametrize("stored, message", [
    ({"type": "kerberos"}, "unsupported credentials type"),
    ({"type": SECRET, "token": SECRET}, "unsupported credentials type"),
    ({"type": "bearer_token", "token": 12345}, "the stored bearer_token credentials are not valid: token: must be"),
    ([SECRET], "not a JSON object"),
])
def test_a_broken_stored_secret_is_a_value_error_that_quotes_no_value(stored, message):
    with pytest.raises(ValueError, match=message) as caught:
        Credentials.from_secret(stored)
    assert SECRET not in str(caught.value) and "12345" not in str(caught.value)


# ----------------------------------------------------------------------------- secrets stay secret

@pytest.mark.parametrize("kind", list(CREDENTIALS))
def test_no_secret_in_a_repr_a_str_or_a_dump(kind):
    request = parse(authentication=CREDENTIALS[kind])
    for text in (repr(request), str(request), repr(request.authentication), str(request.authentication),
                 str(request.model_dump()), request.model_dump_json(), str(RetryRequest.from_body(
                     {"authentication": CREDENTIALS[kind]}))):
        assert SECRET not in text


@pytest.mark.parametrize("kind", list(CREDENTIALS))
def test_no_secret_in_a_422_or_a_validation_error(kind):
    secret_field = next(k for k, v in CREDENTIALS[kind].items() if v == SECRET)
    bodies = [
        {**GOOD, "authentication": {**CREDENTIALS[kind], "extra": SECRET}},
        {**GOOD, "authentication": {**CREDENTIALS[kind], secret_field: [SECRET]}},
        {**GOOD, "authentication": {**CREDENTIALS[kind], "type": SECRET}},
        {**GOOD, "batch_size": "x", "authentication": {**CREDENTIALS[kind], "header": SECRET + " x"}},
    ]
    for body in bodies:
        assert SECRET not in refusal(body)
        with pytest.raises(ValidationError) as caught:
            MigrationRequest.model_validate(body, context={"record_types": RECORD_TYPES})
        assert SECRET not in str(caught.value) and SECRET not in repr(caught.value)
    with pytest.raises(ValidationError) as caught:
        CREDENTIAL_TYPES[kind].model_validate({**CREDENTIALS[kind], "extra": SECRET})
    assert SECRET not in str(caught.value)


# ----------------------------------------------------------------------------- input format

def test_the_input_format_is_built_directly_with_keywords_and_defaults():
    assert InputFormat().to_dict() == {"type": "delimited", "delimiter": ",", "header": True, "encoding": "utf-8",
                                       "record_separator": "newline", "recfm": "F"}
    fixed = InputFormat(type="fixed_width", header=False, encoding="cp037", record_separator="none", recfm="VB")
    assert (fixed.type, fixed.delimiter, fixed.header, fixed.encoding, fixed.record_separator, fixed.recfm) == (
        "fixed_width", ",", False, "cp037", "none", "VB")


@pytest.mark.parametrize("given, expected", [
    ({}, {}),
    ({"delimiter": "tab", "header": False, "encoding": "Latin1"},
     {"delimiter": "\t", "header": False, "encoding": "latin-1"}),
    ({"encoding": "windows-1252"}, {"encoding": "cp1252"}),
    ({"type": "fixed_width"}, {"type": "fixed_width", "header": False, "encoding": "cp037"}),
    ({"type": "fixed_width", "encoding": "EBCDIC", "recfm": "FB"},
     {"type": "fixed_width", "header": False, "encoding": "cp037"}),
    ({"type": "fixed_width", "recfm": "V"},
     {"type": "fixed_width", "header": False, "encoding": "cp037", "recfm": "V", "record_separator": "none"}),
    ({"type": "fixed_width", "encoding": "cp1141", "record_separator": "none"},
     {"type": "fixed_width", "header": False, "encoding": "cp1141", "record_separator": "none"}),
])
def test_a_request_s_format_gets_its_type_s_defaults_and_canonical_values(given, expected):
    fmt = parse(input_format=given).input_format
    assert fmt.to_dict() == {**InputFormat().to_dict(), **expected}
    assert InputFormat(**fmt.to_dict()) == fmt  # as the run store reads it back
    assert hash(InputFormat(**fmt.to_dict())) == hash(fmt)


def test_the_input_format_is_immutable():
    with pytest.raises(ValidationError):
        InputFormat().header = False


# ----------------------------------------------------------------------------- fingerprint

# Computed with the dataclass models this module replaced: a run made before keeps its fingerprint, so
# the repeat of its request (the same Idempotency-Key) still answers it instead of a 409.
FINGERPRINTS = [
    ({**GOOD, "file_path": "data/input/x.csv"},
     "8f5572d1793fb80f80d8c2cc4ce5ae9ecc47fd4d082860452135bbc13d02a21e"),
    ({"file_path": " data/input/x.dat ", "record_type": "claim", "output_mode": "api", "output_dir": "out",
      "batch_size": 7, "authentication": {"type": "api_key", "key": "k-1"}, "metadata": {"b": [1, 2], "a": "x"},
      "max_error_rate": 1, "input_format": {"type": "fixed_width", "recfm": "FB", "encoding": "EBCDIC"},
      "validate_only": True},
     "eea1a1f59f091867878745a5a1d7da39ac05fe93811be5b0086559aae3ca6a06"),
    ({"file_path": "a.csv", "record_type": "claim", "output_mode": "api",
      "input_format": {"delimiter": "tab", "header": False, "encoding": "Latin1"},
      "authentication": {"type": "oauth2_client_credentials", "token_url": "https://t/oauth", "client_id": "c",
                         "client_secret": "s"}},
     "6798874eebaa64d20515e434b5c0d896530923cd14df24fcefd435fa55268b67"),
]


@pytest.mark.parametrize("body, fingerprint", FINGERPRINTS)
def test_the_fingerprint_of_a_request_is_what_it_was(body, fingerprint):
    assert request_fingerprint(MigrationRequest.from_body(body, RECORD_TYPES)) == fingerprint


def test_the_fingerprint_takes_credentials_by_type_only():
    first = parse(authentication={"type": "bearer_token", "token": "one"})
    second = parse(authentication={"type": "bearer_token", "token": "two"})
    other = parse(authentication={"type": "basic", "username": "u", "password": "one"})
    assert request_fingerprint(first) == request_fingerprint(second) != request_fingerprint(other)
    assert request_fingerprint(parse(batch_size=5)) != request_fingerprint(parse())


# ----------------------------------------------------------------------------- JSON Schema

def _objects(schema: dict):
    yield "MigrationRequest", schema
    yield from schema.get("$defs", {}).items()


@pytest.mark.parametrize("model", [MigrationRequest, RetryRequest])
def test_the_json_schema_describes_every_field(model):
    schema = model.model_json_schema()
    described = {}
    for name, obj in _objects(schema):
        for key, prop in obj.get("properties", {}).items():
            described[f"{name}.{key}"] = bool(prop.get("description"))
    assert described and all(described.values()), [k for k, ok in described.items() if not ok]


def test_the_json_schema_has_every_field_and_the_credentials_union():
    schema = MigrationRequest.model_json_schema()
    assert set(schema["properties"]) == set(MigrationRequest.model_fields)
    assert schema["required"] == ["file_path", "record_type", "output_mode"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["batch_size"] | {"minimum": 1, "maximum": 1000, "type": "integer"} == \
        schema["properties"]["batch_size"]
    union = schema["properties"]["authentication"]["anyOf"][0]
    assert union["discriminator"]["propertyName"] == "type"
    assert set(union["discriminator"]["mapping"]) == set(CREDENTIAL_TYPES)
    defs = schema["$defs"]
    for cls in CREDENTIAL_TYPES.values():
        assert set(defs[cls.__name__]["properties"]) == set(cls.model_fields)
        assert "type" in defs[cls.__name__]["required"]
    assert set(defs["InputFormat"]["properties"]) == set(InputFormat.model_fields)
    for secret in (("BearerToken", "token"), ("ApiKey", "key"), ("Basic", "password"),
                   ("OAuth2ClientCredentials", "client_secret")):
        assert defs[secret[0]]["properties"][secret[1]]["writeOnly"] is True


# ----------------------------------------------------------------------------- cold start

def test_the_models_import_no_heavy_library():
    probe = ("import sys, json; import chalicelib.models, chalicelib.credentials; "
             "print(json.dumps(sorted(m for m in ('numpy', 'pandas', 'requests', 'boto3', 'botocore') "
             "if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_DIR, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
