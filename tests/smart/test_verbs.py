"""Smart verbs: decoded from a request's head, judged read-only or not, served bounded."""

from __future__ import annotations

import pytest
from breezy.bzr.smart import protocol, request, vfs

from bzrstore.smart.verbs import (
    REFUSED_VERBS,
    BoundedGet,
    BoundedInsertStream,
    BoundedReadv,
    buffers_body,
    build_command_registry,
    decode_verb,
    head_length,
    is_read_only,
    protocol_one_or_two,
)
from smartwire import request_v1, request_v2, request_v3

V3 = protocol.MESSAGE_VERSION_THREE
STREAMED = (b"Repository.insert_stream", b"Repository.insert_stream_1.19",
            b"Repository.insert_stream_locked")


@pytest.fixture(scope="module")
def commands():
    return build_command_registry()


# --- which verb a request carries -----------------------------------------------------

@pytest.mark.parametrize("body, verb", [
    # protocol 1: the first line
    (request_v1(b"get", b"x"), b"get"),
    (request_v1(b"hello"), b"hello"),
    (request_v1(b"get", b"x") + b"trailing body", b"get"),
    (b"no newline yet", None),
    (b"\n", b""),                                   # an empty verb: unknown, decided later
    (b"\x93\n", b"\x93"),                           # not a verb we know: decided later
    # protocol 2: its marker, then the request line
    (b"bzr request 2\n" + request_v1(b"mkdir", b"x", b""), b"mkdir"),
    (request_v2(b"Branch.lock_write", b"trunk/"), b"Branch.lock_write"),
    (protocol.REQUEST_VERSION_TWO, None),           # the marker alone
    (protocol.REQUEST_VERSION_TWO + b"get\x01x", None),  # request line cut short
    # protocol 3: headers, then the arguments structure
    (request_v3(b"Repository.insert_stream_1.19", b"", b""), b"Repository.insert_stream_1.19"),
    (request_v3(b"put", b"f", b"", body=b"data"), b"put"),
    (request_v3(b"hello"), b"hello"),
    (V3, None),                                     # the marker alone
    (V3 + b"\x00\x00", None),                       # inside the headers' length
    (request_v3(b"hello")[:30], None),              # cut inside the arguments
    (b"bzr message 3 (bzr 1.6)\n\x00\x00\x00\x02des\x00\x00\x00\x09garbage!!", None),
    (V3 + b"\x00\x00\x00\x02de" + b"x\x00\x00\x00\x02le", None),  # not an "s" part
    (V3 + b"\x00\x00\x00\x02de" + b"s\x00\x00\x00\x03i1e", None),  # arguments not a list
    (V3 + b"\x00\x00\x00\x02de" + b"s\x00\x00\x00\x08d1:ai1ee", None),  # nor a dict
    (V3 + b"\x00\x00\x00\x02de" + b"s\x00\x00\x00\x02le", None),   # no arguments
    (V3 + b"\x00\x00\x00\x02de" + b"s\x00\x00\x00\x04li1ee", None),  # verb not bytes
    (b"", None),
])
def test_decode_verb(body: bytes, verb: bytes | None):
    assert decode_verb(body) == verb


def test_a_verb_decodes_only_once_its_head_is_whole():
    body = request_v3(b"Branch.get_stacked_on_url", b"trunk/")
    ends = [n for n in range(len(body) + 1) if decode_verb(body[:n]) is not None]
    assert ends and all(decode_verb(body[:n]) == b"Branch.get_stacked_on_url" for n in ends)
    assert ends == list(range(ends[0], len(body) + 1))  # never undecoded again once decoded


@pytest.mark.parametrize("head, length", [
    (b"get\x01x\nbody", 6),
    (b"no newline", None),
    (protocol.REQUEST_VERSION_TWO + b"get\x01x\nbody", len(protocol.REQUEST_VERSION_TWO) + 6),
    (protocol.REQUEST_VERSION_TWO + b"get", None),
    (V3 + b"\x00\x00", len(V3)),
])
def test_head_length(head: bytes, length: int | None):
    assert head_length(head) == length


# --- read-only or not -------------------------------------------------------------------

def test_every_verb_breezy_marks_read_only_is_read_only_in_ours(commands):
    breezy = request.request_handlers
    for verb in breezy.keys():
        read = breezy.get_info(verb) == "read"
        assert is_read_only(verb) is read, verb
        if verb in commands:
            assert is_read_only(verb, commands) is read, verb


@pytest.mark.parametrize("verb", [
    b"Branch.set_last_revision_info", b"Repository.insert_stream_1.19",
    b"BzrDirFormat.initialize_ex_1.16", b"BzrDirFormat.initialize", b"mkdir", b"put",
    b"Branch.lock_write", b"Repository.insert_stream",
])
def test_writes(commands, verb: bytes):
    assert not is_read_only(verb, commands)


@pytest.mark.parametrize("verb", [b"hello", b"get", b"readv", b"BzrDir.open_2.1"])
def test_reads(commands, verb: bytes):
    assert is_read_only(verb, commands)


@pytest.mark.parametrize("verb", [None, b"NoSuchVerb", *sorted(REFUSED_VERBS)])
def test_unknown_and_refused_verbs_count_as_reads(commands, verb: bytes | None):
    """They reach only the read-only app, which answers them with an error."""
    assert is_read_only(verb, commands)


# --- the bounded registry ---------------------------------------------------------------

def test_refused_verbs_are_absent_and_every_other_verb_is_served(commands):
    breezy = set(request.request_handlers.keys())
    assert REFUSED_VERBS.keys() <= breezy
    assert set(commands.keys()) == breezy - REFUSED_VERBS.keys()
    for verb in commands.keys():
        assert commands.get_info(verb) == request.request_handlers.get_info(verb), verb


def test_readv_and_get_are_bounded(commands):
    assert commands.get(b"readv") is BoundedReadv
    assert commands.get(b"get") is BoundedGet
    assert issubclass(BoundedReadv, vfs.ReadvRequest)
    assert issubclass(BoundedGet, vfs.GetRequest)


def test_bounded_insert_queue_is_installed(commands):
    for verb in STREAMED:
        assert issubclass(commands.get(verb), BoundedInsertStream)
        assert issubclass(commands.get(verb), request.request_handlers.get(verb))
        assert commands.get_info(verb) == "stream"
    assert commands.get_info(b"hello") == "read"


def test_branch_creating_verbs_are_rolled_back_on_a_full_disk(commands):
    for verb in (b"BzrDirFormat.initialize", b"BzrDirFormat.initialize_ex_1.16"):
        handler = commands.get(verb)
        assert handler.__qualname__.startswith("_rolled_back.")


def test_only_streamed_verbs_do_not_buffer_their_body(commands):
    for verb in STREAMED:
        assert not buffers_body(verb, commands)
    for verb in (b"put", b"readv", b"hello", b"NoSuchVerb", None):
        assert buffers_body(verb, commands)


def test_protocol_one_and_two_serve_our_registry(commands):
    for factory in (protocol.SmartServerRequestProtocolOne,
                    protocol.SmartServerRequestProtocolTwo):
        served = protocol_one_or_two(factory, commands)
        assert issubclass(served, factory) and served.commands is commands
        assert protocol_one_or_two(factory, commands) is served  # built once
    with pytest.raises(ValueError):
        protocol_one_or_two(protocol.ProtocolThreeDecoder, commands)
