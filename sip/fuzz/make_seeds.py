#!/usr/bin/env python3
"""Writes the seed corpora under seeds/<target>/ from the messages in sip/core/tests.

Run from anywhere: python3 sip/fuzz/make_seeds.py. It rewrites seeds/ entirely, so the committed seeds are
always exactly what this script makes from the committed test messages.

- message_datagram: every message as is.
- stream_framer: every message behind a control octet (whole, 7-octet reads, alternating 1-octet reads,
  small limits), and a few streams of several messages separated by RFC 5626 keepalives.
- uri: the Request-URIs, the URIs of From/To/Contact/Route/Record-Route/Path and the Via sent-by values.
- header_views: the values of the headers the target knows, behind the octet that selects the view.
- route_token: route tokens of carillon-proxy-core sealed with the fuzz target's key (choice octet 0), their
  bodies (1), and as the user part of a Route (2); plus foreign and damaged ones.

seeds/digest/ is written by hand and left alone.
"""

import base64
import hashlib
import hmac
import ipaddress
import pathlib
import re
import shutil
import struct

FUZZ = pathlib.Path(__file__).resolve().parent
TESTS = FUZZ.parent / "core" / "tests"

SOURCES = (
    sorted((TESTS / "corpus" / "rfc4475").glob("*.dat"))
    + sorted((TESTS / "corpus" / "rfc4475" / "derived").glob("*.dat"))
    + sorted((TESTS / "corpus" / "rfc5118" / "wire").glob("*.sip"))
    + sorted((TESTS / "data").glob("*.sip"))
)

# The choice octet of each view in fuzz_targets/header_views.rs, by lower-case header name (long and compact).
VIEWS = {
    "via": 0, "v": 0,
    "from": 1, "f": 1,
    "to": 2, "t": 2,
    "route": 3,
    "record-route": 4,
    "contact": 5, "m": 5,
    "cseq": 6,
    "call-id": 7, "i": 7,
    "max-forwards": 8,
    "expires": 9,
}
ADDRESS_HEADERS = {"from", "f", "to", "t", "contact", "m", "route", "record-route", "path"}


def label(path):
    """A short file-name prefix saying where a seed comes from."""
    parent = path.parent.name
    group = {"rfc4475": "4475", "derived": "4475d", "wire": "5118", "data": "data"}[parent]
    return f"{group}-{path.stem}"


def split_message(raw):
    """(start line, [(name, value)]) of a message, folds kept inside values as received."""
    head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
    lines = re.split(rb"\r?\n", head)
    start, headers = lines[0], []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + b"\r\n" + line)
        elif b":" in line:
            name, value = line.split(b":", 1)
            headers.append((name.strip(), value.strip()))
    return start, headers


def uris_in(value):
    """URIs inside <...>, or the addr-spec when there are no brackets."""
    found = re.findall(rb"<([^<>]*)>", value)
    if found:
        return found
    bare = re.split(rb"[;,]", value.split(b"\r\n")[0])[0].strip()
    return [bare] if bare else []


# The key and MAC label of fuzz_targets/route_token.rs (the label is the one in proxy/core/src/token.rs).
TOKEN_KEY = b"fuzz key"
TOKEN_LABEL = b"carillon route token v1"


def token_body(transport=None, listener=0, address=None, port=0, connection=None, tag=None):
    """A route token's body as proxy/core/src/token.rs lays it out."""
    flags, rest = 0, b""
    if address is not None:
        ip = ipaddress.ip_address(address)
        flags |= 1 | (2 if ip.version == 6 else 0) | (4 if connection is not None else 0)
        rest += bytes([transport, listener]) + ip.packed + struct.pack(">H", port)
        if connection is not None:
            rest += struct.pack(">Q", connection)
    if tag is not None:
        flags |= 8
        rest += bytes([len(tag)]) + tag
    return bytes([1, flags]) + rest


def seal(body, key=TOKEN_KEY):
    """The token text of a body: base64url without padding of the body and its 80-bit MAC."""
    mac = hmac.new(key, struct.pack(">Q", len(TOKEN_LABEL)) + TOKEN_LABEL + body, hashlib.sha256).digest()[:10]
    return base64.urlsafe_b64encode(body + mac).rstrip(b"=")


def token_seeds():
    """(name, seed) pairs of the route_token target."""
    bodies = {
        "udp-v4": token_body(0, 0, "198.51.100.7", 40000),
        "tcp-v4-connection": token_body(1, 1, "198.51.100.7", 40000, connection=42),
        "tls-v6-connection": token_body(2, 2, "2001:db8::7", 5061, connection=2**40),
        "tag": token_body(tag=b"itsp"),
        "udp-v4-tag": token_body(0, 0, "203.0.113.5", 5060, tag=b"trunk-1"),
    }
    seeds = []
    for name, body in bodies.items():
        token = seal(body)
        seeds.append((f"text-{name}", b"\x00" + token))
        seeds.append((f"body-{name}", b"\x01" + body))
        seeds.append((f"route-{name}", b"\x02" + token))
    foreign = seal(bodies["udp-v4"], b"another key")
    seeds.append(("text-foreign-key", b"\x00" + foreign))
    seeds.append(("route-foreign-key", b"\x02" + foreign))
    seeds.append(("text-padded", b"\x00" + seal(bodies["tag"]) + b"=="))
    seeds.append(("body-unknown-flag", b"\x01" + bytes([1, 0x18, 1]) + b"a"))
    seeds.append(("route-ordinary-user", b"\x02alice"))
    return seeds


def main():
    seeds = FUZZ / "seeds"
    out = {t: {} for t in ("message_datagram", "stream_framer", "uri", "header_views", "route_token")}
    for target in out:
        if (seeds / target).exists():
            shutil.rmtree(seeds / target)

    def add(target, name, data):
        if data not in out[target].values():
            out[target][name] = data

    messages = []
    for path in SOURCES:
        raw = path.read_bytes()
        messages.append(raw)
        tag = label(path)
        add("message_datagram", tag, raw)
        for control, what in ((0x00, "whole"), (0x07, "reads7"), (0x45, "alternating"), (0x80, "small-limits")):
            add("stream_framer", f"{tag}-{what}", bytes([control]) + raw)

        start, headers = split_message(raw)
        parts = start.split(b" ")
        if len(parts) >= 3 and not start.upper().startswith(b"SIP/"):
            add("uri", f"{tag}-request-uri", parts[1])
        for i, (name, value) in enumerate(headers):
            lower = name.decode("latin-1").lower()
            if lower in ADDRESS_HEADERS:
                for j, uri in enumerate(uris_in(value)):
                    add("uri", f"{tag}-{lower}-{i}-{j}", uri)
            if lower in ("via", "v"):
                for j, one in enumerate(value.split(b",")):
                    words = one.split(b";")[0].split()
                    if len(words) >= 2:
                        add("uri", f"{tag}-sent-by-{i}-{j}", words[-1])
            if lower in VIEWS:
                add("header_views", f"{tag}-{lower}-{i}", bytes([VIEWS[lower]]) + value)

    data = {p.stem: p.read_bytes() for p in sorted((TESTS / "data").glob("*.sip"))}
    stream = data["invite"] + b"\r\n\r\n" + data["register"] + b"\r\n" + data["ok"]
    add("stream_framer", "stream-three-messages-keepalives", b"\x00" + stream)
    add("stream_framer", "stream-three-messages-reads13", b"\x0d" + stream)
    add("stream_framer", "stream-three-messages-alternating", b"\x43" + stream)
    add("stream_framer", "stream-keepalives-only", b"\x01" + b"\r\n\r\n\r\n\r\n\r\n")
    for name, seed in token_seeds():
        add("route_token", name, seed)

    for target, files in out.items():
        folder = seeds / target
        folder.mkdir(parents=True)
        for name, content in files.items():
            (folder / re.sub(r"[^A-Za-z0-9._-]", "_", name)).write_bytes(content)
        print(f"{target}: {len(files)} seeds")


if __name__ == "__main__":
    main()
