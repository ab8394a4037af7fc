#!/usr/bin/python3
"""vencrypt-unwrap - lets ordinary TLS tools talk to vencryptd's TLS stack.

vencryptd speaks RFB before TLS: the server's and the client's version,
security type 19, VeNCrypt 0.2, the subtype and its ack, and only then the
TLS handshake.  Tools such as gnutls-cli, openssl s_client and testssl.sh
start with a ClientHello, so they cannot talk to it directly.

  serve --connect HOST:PORT --subtype X509None|X509Plain --ports-file FILE
        --record FILE
      Listens on 127.0.0.1:0 and writes the port it got to FILE.  For each
      connection it accepts, it connects to vencryptd, does the clear-text
      preamble choosing the subtype given, and then copies the raw bytes
      both ways, so the tool's TLS handshake is made with vencryptd itself.
      On the way it reads (never changes) the tool's ClientHello and
      vencryptd's first TLS record, and when the connection ends it
      appends one JSON line to the record file:
        {"id": N, "via": PORT, "hello": {...}, "reply": {...}, "error": ...}
      "via" is the local port of the connection to vencryptd (the peer
      port in vencryptd's log), "hello" what the client offered (null if
      it sent none), "reply" what vencryptd answered first (an alert, a
      ServerHello, or "closed").  Runs until killed.

  hello --connect HOST:PORT --kind KIND
      Sends one hand-made ClientHello that no installed client can send
      any more (ssl2: an SSL 2.0 CLIENT-HELLO; ssl3: SSL 3.0; export: the
      export suites in a TLS 1.2 hello), or a TLS 1.2 hello with modern
      suites (modern) to show the hand-made hellos are well formed, and
      prints the first answer: "reply alert LEVEL NAME (N)",
      "reply server-hello VERSION SUITE" or "reply closed".

  check --record FILE --id N --class CLASS --expect refused|accepted
      Reads connection N of a record file and checks that the client
      offered CLASS and only CLASS (so a refusal can only be about it), and
      that vencryptd refused it with a fatal alert, or accepted it with a
      ServerHello.  Prints one line; exit 0 when all holds, 1 when the
      server did the wrong thing, 3 when the client did not offer what
      was asked (a broken test, not a server verdict).

Usage errors exit 2.  Python 3 standard library only.
"""

import argparse
import json
import os
import socket
import struct
import sys
import threading

PREAMBLE_TIMEOUT = 10.0
# A connection with nothing moving for this long is closed (vencryptd's
# own handshake timeout normally ends things much earlier).
IDLE_TIMEOUT = 120.0
# How much of each direction is kept to find the hello and the reply.
OBSERVE_MAX = 65536

SUBTYPES = {"X509None": 260, "X509Plain": 262}

# ---- TLS names ------------------------------------------------------------

VERSIONS = {0x0002: "SSL2.0", 0x0300: "SSL3.0", 0x0301: "TLS1.0",
            0x0302: "TLS1.1", 0x0303: "TLS1.2", 0x0304: "TLS1.3"}

ALERTS = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac",
          22: "record_overflow", 40: "handshake_failure",
          42: "bad_certificate", 47: "illegal_parameter",
          50: "decode_error", 51: "decrypt_error", 70: "protocol_version",
          71: "insufficient_security", 80: "internal_error",
          86: "inappropriate_fallback", 90: "user_canceled",
          109: "missing_extension", 110: "unsupported_extension"}

# IANA names of the suites the tests offer; the checks classify by name.
SUITES = {
    0x0001: "TLS_RSA_WITH_NULL_MD5",
    0x0002: "TLS_RSA_WITH_NULL_SHA",
    0x0003: "TLS_RSA_EXPORT_WITH_RC4_40_MD5",
    0x0004: "TLS_RSA_WITH_RC4_128_MD5",
    0x0005: "TLS_RSA_WITH_RC4_128_SHA",
    0x0006: "TLS_RSA_EXPORT_WITH_RC2_CBC_40_MD5",
    0x0008: "TLS_RSA_EXPORT_WITH_DES40_CBC_SHA",
    0x000A: "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    0x000B: "TLS_DH_DSS_EXPORT_WITH_DES40_CBC_SHA",
    0x000E: "TLS_DH_RSA_EXPORT_WITH_DES40_CBC_SHA",
    0x0011: "TLS_DHE_DSS_EXPORT_WITH_DES40_CBC_SHA",
    0x0014: "TLS_DHE_RSA_EXPORT_WITH_DES40_CBC_SHA",
    0x0016: "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA",
    0x0017: "TLS_DH_anon_EXPORT_WITH_RC4_40_MD5",
    0x0018: "TLS_DH_anon_WITH_RC4_128_MD5",
    0x0019: "TLS_DH_anon_EXPORT_WITH_DES40_CBC_SHA",
    0x001B: "TLS_DH_anon_WITH_3DES_EDE_CBC_SHA",
    0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA",
    0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA",
    0x0034: "TLS_DH_anon_WITH_AES_128_CBC_SHA",
    0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
    0x003A: "TLS_DH_anon_WITH_AES_256_CBC_SHA",
    0x003B: "TLS_RSA_WITH_NULL_SHA256",
    0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256",
    0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256",
    0x0041: "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA",
    0x0045: "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA",
    0x0046: "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA",
    0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
    0x006B: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
    0x006C: "TLS_DH_anon_WITH_AES_128_CBC_SHA256",
    0x006D: "TLS_DH_anon_WITH_AES_256_CBC_SHA256",
    0x0084: "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA",
    0x0088: "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA",
    0x0089: "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA",
    0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
    0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384",
    0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    0x00A6: "TLS_DH_anon_WITH_AES_128_GCM_SHA256",
    0x00A7: "TLS_DH_anon_WITH_AES_256_GCM_SHA384",
    0x00BA: "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA256",
    0x00BE: "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA256",
    0x00BF: "TLS_DH_anon_WITH_CAMELLIA_128_CBC_SHA256",
    0x00C0: "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA256",
    0x00C4: "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256",
    0x00C5: "TLS_DH_anon_WITH_CAMELLIA_256_CBC_SHA256",
    0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
    0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0x1304: "TLS_AES_128_CCM_SHA256",
    0x1305: "TLS_AES_128_CCM_8_SHA256",
    0x5600: "TLS_FALLBACK_SCSV",
    0xC006: "TLS_ECDHE_ECDSA_WITH_NULL_SHA",
    0xC007: "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    0xC008: "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA",
    0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    0xC010: "TLS_ECDHE_RSA_WITH_NULL_SHA",
    0xC011: "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    0xC012: "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0xC015: "TLS_ECDH_anon_WITH_NULL_SHA",
    0xC016: "TLS_ECDH_anon_WITH_RC4_128_SHA",
    0xC017: "TLS_ECDH_anon_WITH_3DES_EDE_CBC_SHA",
    0xC018: "TLS_ECDH_anon_WITH_AES_128_CBC_SHA",
    0xC019: "TLS_ECDH_anon_WITH_AES_256_CBC_SHA",
    0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xC072: "TLS_ECDHE_ECDSA_WITH_CAMELLIA_128_CBC_SHA256",
    0xC073: "TLS_ECDHE_ECDSA_WITH_CAMELLIA_256_CBC_SHA384",
    0xC076: "TLS_ECDHE_RSA_WITH_CAMELLIA_128_CBC_SHA256",
    0xC077: "TLS_ECDHE_RSA_WITH_CAMELLIA_256_CBC_SHA384",
    0xC09C: "TLS_RSA_WITH_AES_128_CCM",
    0xC09D: "TLS_RSA_WITH_AES_256_CCM",
    0xC09E: "TLS_DHE_RSA_WITH_AES_128_CCM",
    0xC09F: "TLS_DHE_RSA_WITH_AES_256_CCM",
    0xC0A0: "TLS_RSA_WITH_AES_128_CCM_8",
    0xC0A1: "TLS_RSA_WITH_AES_256_CCM_8",
    0xC0AC: "TLS_ECDHE_ECDSA_WITH_AES_128_CCM",
    0xC0AD: "TLS_ECDHE_ECDSA_WITH_AES_256_CCM",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCAA: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
}
SIGNALLING = {0x00FF, 0x5600}

# SSL 2.0 cipher kinds (three bytes each).
SSL2_KINDS = {0x010080: "SSL_CK_RC4_128_WITH_MD5",
              0x020080: "SSL_CK_RC4_128_EXPORT40_WITH_MD5",
              0x030080: "SSL_CK_RC2_128_CBC_WITH_MD5",
              0x040080: "SSL_CK_RC2_128_CBC_EXPORT40_WITH_MD5",
              0x050080: "SSL_CK_IDEA_128_CBC_WITH_MD5",
              0x060040: "SSL_CK_DES_64_CBC_WITH_MD5",
              0x0700C0: "SSL_CK_DES_192_EDE3_CBC_WITH_MD5"}


def version_name(v):
    return VERSIONS.get(v, "0x%04x" % v)


def suite_name(s):
    return SUITES.get(s, "0x%04x" % s)


def alert_name(d):
    return ALERTS.get(d, "alert")


# ---- parsing what goes by --------------------------------------------------

class NeedMore(Exception):
    """The bytes so far end inside the message."""


class Malformed(Exception):
    """The bytes are not what they claim to be."""


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise Malformed("message shorter than its fields")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]

    def vec(self, lenbytes):
        n = int.from_bytes(self.take(lenbytes), "big")
        return self.take(n)

    def left(self):
        return len(self.data) - self.pos


def handshake_message(data):
    """The first handshake message carried by the TLS records at the start
    of data: (record version, message type, body)."""
    body = b""
    pos = 0
    record_version = None
    while True:
        if len(data) < pos + 5:
            raise NeedMore()
        ctype, rver, rlen = struct.unpack(">BHH", data[pos:pos + 5])
        if ctype != 22:
            raise Malformed("record type %d where a handshake was expected"
                            % ctype)
        if record_version is None:
            record_version = rver
        if len(data) < pos + 5 + rlen:
            raise NeedMore()
        body += data[pos + 5:pos + 5 + rlen]
        pos += 5 + rlen
        if len(body) >= 4:
            mlen = int.from_bytes(body[1:4], "big")
            if len(body) >= 4 + mlen:
                return record_version, body[0], body[4:4 + mlen]


def parse_sslv2_hello(data):
    if len(data) < 2:
        raise NeedMore()
    rlen = ((data[0] & 0x7F) << 8) | data[1]
    if len(data) < 2 + rlen:
        raise NeedMore()
    r = Reader(data[2:2 + rlen])
    if r.u8() != 1:
        raise Malformed("SSL 2.0 record is not a CLIENT-HELLO")
    version = r.u16()
    speclen, sidlen, chlen = r.u16(), r.u16(), r.u16()
    specs = r.take(speclen)
    r.take(sidlen)
    r.take(chlen)
    kinds = [int.from_bytes(specs[i:i + 3], "big")
             for i in range(0, len(specs) - 2, 3)]
    return {"format": "sslv2", "version": version, "versions": [version],
            "suites": [k for k in kinds if k >> 16 == 0],
            "sslv2_kinds": [k for k in kinds if k >> 16 != 0]}


def parse_client_hello(data):
    """What the client offered, from the first bytes it sent."""
    if not data:
        raise NeedMore()
    if data[0] & 0x80:
        return parse_sslv2_hello(data)
    record_version, mtype, body = handshake_message(data)
    if mtype != 1:
        raise Malformed("handshake message %d is not a ClientHello" % mtype)
    r = Reader(body)
    version = r.u16()
    r.take(32)
    r.vec(1)
    raw = r.vec(2)
    suites = [int.from_bytes(raw[i:i + 2], "big")
              for i in range(0, len(raw) - 1, 2)]
    r.vec(1)
    supported = []
    sigalgs = []
    exts = []
    if r.left() >= 2:
        ext_r = Reader(r.vec(2))
        while ext_r.left() >= 4:
            etype = ext_r.u16()
            edata = ext_r.vec(2)
            exts.append(etype)
            if etype == 43 and edata:
                sv = edata[1:1 + edata[0]]
                supported = [int.from_bytes(sv[i:i + 2], "big")
                             for i in range(0, len(sv) - 1, 2)]
            elif etype == 13 and len(edata) >= 2:
                sa = edata[2:2 + int.from_bytes(edata[:2], "big")]
                sigalgs = [int.from_bytes(sa[i:i + 2], "big")
                           for i in range(0, len(sa) - 1, 2)]
    versions = supported if supported else [version]
    return {"format": "tls", "record_version": record_version,
            "version": version, "versions": versions, "suites": suites,
            "sigalgs": sigalgs, "extensions": exts}


def parse_reply(data, closed):
    """vencryptd's first answer, from the first bytes it sent."""
    if not data:
        if closed:
            return {"kind": "closed"}
        raise NeedMore()
    if data[0] == 21:
        if len(data) < 7:
            if closed:
                return {"kind": "closed", "partial": data.hex()}
            raise NeedMore()
        return {"kind": "alert", "level": data[5], "description": data[6],
                "name": alert_name(data[6])}
    if data[0] == 22:
        try:
            _, mtype, body = handshake_message(data)
        except NeedMore:
            if closed:
                return {"kind": "closed", "partial": data[:64].hex()}
            raise
        if mtype != 2:
            return {"kind": "handshake", "type": mtype}
        r = Reader(body)
        version = r.u16()
        r.take(32)
        r.vec(1)
        suite = r.u16()
        r.u8()
        selected = version
        if r.left() >= 2:
            ext_r = Reader(r.vec(2))
            while ext_r.left() >= 4:
                etype = ext_r.u16()
                edata = ext_r.vec(2)
                if etype == 43 and len(edata) == 2:
                    selected = int.from_bytes(edata, "big")
        return {"kind": "server_hello", "version": selected, "suite": suite,
                "name": suite_name(suite)}
    return {"kind": "other", "first_bytes": data[:16].hex()}


def describe_reply(reply):
    if reply is None:
        return "none"
    k = reply["kind"]
    if k == "alert":
        return "alert %s %s (%d)" % ("fatal" if reply["level"] == 2
                                     else "warning", reply["name"],
                                     reply["description"])
    if k == "server_hello":
        return "server-hello %s %s" % (version_name(reply["version"]),
                                       reply["name"])
    return k


# ---- serve ----------------------------------------------------------------

def recv_exact(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("vencryptd closed during the preamble "
                                  "(after %d of %d bytes)" % (len(out), n))
        out += chunk
    return out


def preamble(sock, subtype):
    """The clear-text part of VeNCrypt, as a client choosing subtype."""
    version = recv_exact(sock, 12)
    if not version.startswith(b"RFB 003."):
        raise ConnectionError("not an RFB server: %r" % version)
    sock.sendall(b"RFB 003.008\n")
    types = recv_exact(sock, recv_exact(sock, 1)[0])
    if 19 not in types:
        raise ConnectionError("VeNCrypt not offered: %r" % list(types))
    sock.sendall(b"\x13")
    if recv_exact(sock, 2) != b"\x00\x02":
        raise ConnectionError("not VeNCrypt 0.2")
    sock.sendall(b"\x00\x02")
    if recv_exact(sock, 1) != b"\x00":
        raise ConnectionError("VeNCrypt version refused")
    count = recv_exact(sock, 1)[0]
    offered = struct.unpack(">%dI" % count, recv_exact(sock, 4 * count))
    if subtype not in offered:
        raise ConnectionError("subtype %d not offered (offered %s)"
                              % (subtype, list(offered)))
    sock.sendall(struct.pack(">I", subtype))
    if recv_exact(sock, 1) != b"\x01":
        raise ConnectionError("subtype refused")


class Observed:
    """The first bytes of one direction, kept until they can be parsed."""

    def __init__(self, parse):
        self.parse = parse
        self.data = b""
        self.result = None
        self.done = False

    def feed(self, chunk, closed=False):
        if self.done:
            return
        self.data += chunk
        try:
            self.result = self.parse(self.data, closed)
            self.done = True
        except NeedMore:
            if closed or len(self.data) >= OBSERVE_MAX:
                self.result = {"kind": "incomplete",
                               "first_bytes": self.data[:64].hex()} \
                    if self.data else None
                self.done = True
        except (Malformed, IndexError, ValueError, struct.error) as e:
            self.result = {"kind": "malformed", "error": str(e),
                           "first_bytes": self.data[:64].hex()}
            self.done = True
        if self.done:
            self.data = b""


def pump(src, dst, observed, counts, key):
    try:
        while True:
            chunk = src.recv(16384)
            if not chunk:
                break
            observed.feed(chunk)
            counts[key] += len(chunk)
            dst.sendall(chunk)
    except OSError:
        pass
    observed.feed(b"", closed=True)
    for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
        try:
            s.shutdown(how)
        except OSError:
            pass


class Recorder:
    def __init__(self, path):
        self.path = path
        self.lock = threading.Lock()
        self.next_id = 0
        open(path, "w").close()

    def new_id(self):
        with self.lock:
            self.next_id += 1
            return self.next_id

    def write(self, rec):
        with self.lock:
            with open(self.path, "a") as f:
                f.write(json.dumps(rec, sort_keys=True) + "\n")


def serve_one(client, target, subtype, recorder):
    rec = {"id": recorder.new_id(), "via": None, "hello": None,
           "reply": None, "error": None, "bytes_up": 0, "bytes_down": 0}
    daemon = None
    try:
        try:
            daemon = socket.create_connection(target,
                                              timeout=PREAMBLE_TIMEOUT)
            rec["via"] = daemon.getsockname()[1]
            preamble(daemon, subtype)
        except (OSError, ConnectionError) as e:
            rec["error"] = "preamble: %s" % e
            return
        daemon.settimeout(IDLE_TIMEOUT)
        client.settimeout(IDLE_TIMEOUT)
        hello = Observed(lambda d, closed: parse_client_hello(d))
        reply = Observed(parse_reply)
        counts = {"up": 0, "down": 0}
        down = threading.Thread(target=pump,
                                args=(daemon, client, reply, counts, "down"),
                                daemon=True)
        down.start()
        pump(client, daemon, hello, counts, "up")
        down.join()
        rec["hello"] = hello.result
        rec["reply"] = reply.result
        rec["bytes_up"] = counts["up"]
        rec["bytes_down"] = counts["down"]
    finally:
        client.close()
        if daemon is not None:
            daemon.close()
        recorder.write(rec)


def cmd_serve(args):
    target = parse_hostport(args.connect)
    subtype = SUBTYPES[args.subtype]
    recorder = Recorder(args.record)
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(128)
    tmp = args.ports_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % lsock.getsockname()[1])
    os.rename(tmp, args.ports_file)
    while True:
        client, _ = lsock.accept()
        threading.Thread(target=serve_one,
                         args=(client, target, subtype, recorder),
                         daemon=True).start()


# ---- hello ----------------------------------------------------------------

def extension(etype, body):
    return struct.pack(">HH", etype, len(body)) + body


def modern_extensions():
    groups = [29, 23, 24]                       # x25519, P-256, P-384
    sigalgs = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501,
               0x0806, 0x0601]
    g = struct.pack(">%dH" % len(groups), *groups)
    s = struct.pack(">%dH" % len(sigalgs), *sigalgs)
    return (extension(10, struct.pack(">H", len(g)) + g) +     # groups
            extension(11, b"\x01\x00") +                       # uncompressed
            extension(13, struct.pack(">H", len(s)) + s) +     # sigalgs
            extension(23, b"") +                               # EMS
            extension(0xFF01, b"\x00"))                        # reneg info


def tls_hello(record_version, version, suites, extensions):
    body = struct.pack(">H", version) + os.urandom(32) + b"\x00"
    body += struct.pack(">H%dH" % len(suites), 2 * len(suites), *suites)
    body += b"\x01\x00"                         # compression: null only
    if extensions is not None:
        body += struct.pack(">H", len(extensions)) + extensions
    msg = b"\x01" + len(body).to_bytes(3, "big") + body
    return struct.pack(">BHH", 22, record_version, len(msg)) + msg


def sslv2_hello():
    kinds = list(SSL2_KINDS)
    specs = b"".join(k.to_bytes(3, "big") for k in kinds)
    challenge = os.urandom(16)
    body = (b"\x01" + struct.pack(">HHHH", 0x0002, len(specs), 0,
                                  len(challenge)) + specs + challenge)
    return struct.pack(">H", 0x8000 | len(body)) + body


def hand_made(kind):
    if kind == "ssl2":
        return sslv2_hello()
    if kind == "ssl3":
        # What an SSL 3.0 client offered: no extensions, CBC, 3DES, RC4.
        suites = [0x0035, 0x002F, 0x0039, 0x0033, 0x000A, 0x0016,
                  0x0005, 0x0004, 0x00FF]
        return tls_hello(0x0300, 0x0300, suites, None)
    if kind == "export":
        suites = [0x0003, 0x0006, 0x0008, 0x000B, 0x000E, 0x0011, 0x0014,
                  0x0017, 0x0019]
        return tls_hello(0x0301, 0x0303, suites, modern_extensions())
    if kind == "modern":
        suites = [0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8]
        return tls_hello(0x0301, 0x0303, suites, modern_extensions())
    raise ValueError(kind)


def cmd_hello(args):
    target = parse_hostport(args.connect)
    with socket.create_connection(target, timeout=args.timeout) as s:
        s.sendall(hand_made(args.kind))
        obs = Observed(parse_reply)
        while not obs.done:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                chunk = b""
            obs.feed(chunk, closed=not chunk)
    print("reply %s" % describe_reply(obs.result))
    return 0


# ---- check ----------------------------------------------------------------

def suite_test(pred):
    def test(hello):
        names = [suite_name(s) for s in hello["suites"]
                 if s not in SIGNALLING]
        if not names:
            return "no cipher suites"
        unknown = [n for n in names if not n.startswith("TLS_")]
        if unknown:
            return "suites the test cannot classify: %s" % ", ".join(unknown)
        other = [n for n in names if not pred(n)]
        if other:
            return "also offered %s" % ", ".join(other)
        if max(hello["versions"]) < 0x0303:
            return "offered only %s, which the server may refuse for the " \
                   "version alone" % version_name(max(hello["versions"]))
        return None
    return test


def version_test(version):
    def test(hello):
        top = max(hello["versions"])
        if top != version:
            return "offered up to %s" % version_name(top)
        return None
    return test


def sslv2_test(hello):
    if hello["format"] != "sslv2":
        return "not an SSL 2.0 CLIENT-HELLO"
    return None


# rsa_pkcs1_sha1, dsa_sha1, ecdsa_sha1: the SHA-1 signature schemes.
SHA1_SIGALGS = {0x0201, 0x0202, 0x0203}


def sha1_sig_test(hello):
    sigalgs = hello.get("sigalgs") or []
    if not sigalgs:
        return "no signature_algorithms extension"
    other = [a for a in sigalgs if a not in SHA1_SIGALGS]
    if other:
        return "also offered signature schemes %s" % ", ".join(
            "0x%04x" % a for a in other)
    if max(hello["versions"]) < 0x0303:
        return "offered only %s" % version_name(max(hello["versions"]))
    return None


def modern_test(hello):
    return None


# Each class: the check that the hello offered it and nothing else.
CLASSES = {
    "ssl2": sslv2_test,
    "ssl3": version_test(0x0300),
    "tls1.0": version_test(0x0301),
    "tls1.1": version_test(0x0302),
    "rc4": suite_test(lambda n: "_RC4_" in n),
    "3des": suite_test(lambda n: "_3DES_" in n),
    "cbc-sha1": suite_test(lambda n: n.endswith("_CBC_SHA")
                           and "_3DES_" not in n),
    "cbc-sha2": suite_test(lambda n: n.endswith(("_CBC_SHA256",
                                                 "_CBC_SHA384"))),
    "anon": suite_test(lambda n: "_anon_" in n),
    "null": suite_test(lambda n: "_WITH_NULL_" in n),
    "export": suite_test(lambda n: "_EXPORT_" in n),
    "rsa-kx": suite_test(lambda n: n.startswith("TLS_RSA_WITH_")),
    "dhe": suite_test(lambda n: n.startswith("TLS_DHE_")),
    "sha1-sig": sha1_sig_test,
    "modern": modern_test,
}

# A refusal is a fatal alert saying the offer is unacceptable.
REFUSALS = {40, 70, 71}


def read_record(path, conn_id):
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            if rec["id"] == conn_id:
                return rec
    return None


def cmd_check(args):
    rec = read_record(args.record, args.id)
    if rec is None:
        print("no connection %d reached the shim: the client could not "
              "offer %s" % (args.id, args.cls))
        return 3
    if rec["error"]:
        print("connection %d: %s" % (args.id, rec["error"]))
        return 3
    hello = rec["hello"]
    if hello is None or hello.get("kind") is not None:
        print("connection %d: the client sent no usable hello (%s): it "
              "could not offer %s" % (args.id, json.dumps(hello), args.cls))
        return 3
    why = CLASSES[args.cls](hello)
    offered = "%s, %d suite(s)" % (version_name(max(hello["versions"])),
                                   len(hello["suites"]))
    if why is not None:
        print("connection %d: the client did not offer %s only (%s): %s"
              % (args.id, args.cls, offered, why))
        return 3
    reply = rec["reply"]
    said = describe_reply(reply)
    if args.expect == "refused":
        ok = (reply is not None and reply["kind"] == "alert" and
              reply["level"] == 2 and reply["description"] in REFUSALS)
    else:
        ok = reply is not None and reply["kind"] == "server_hello"
    print("connection %d via %s: offered %s (%s), server answered %s: %s"
          % (args.id, rec["via"], args.cls, offered, said,
             "as expected" if ok else "expected it %s" % args.expect))
    return 0 if ok else 1


# ---- main -----------------------------------------------------------------

def parse_hostport(text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError("want HOST:PORT, not %r" % text)
    return host.strip("[]"), int(port)


def main():
    p = argparse.ArgumentParser(prog="vencrypt-unwrap")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--connect", required=True)
    s.add_argument("--subtype", required=True, choices=sorted(SUBTYPES))
    s.add_argument("--ports-file", required=True)
    s.add_argument("--record", required=True)
    h = sub.add_parser("hello")
    h.add_argument("--connect", required=True)
    h.add_argument("--kind", required=True,
                   choices=["ssl2", "ssl3", "export", "modern"])
    h.add_argument("--timeout", type=float, default=15.0)
    c = sub.add_parser("check")
    c.add_argument("--record", required=True)
    c.add_argument("--id", type=int, required=True)
    c.add_argument("--class", dest="cls", required=True,
                   choices=sorted(CLASSES))
    c.add_argument("--expect", required=True,
                   choices=["refused", "accepted"])
    args = p.parse_args()
    try:
        if args.cmd == "serve":
            return cmd_serve(args)
        if args.cmd == "hello":
            return cmd_hello(args)
        return cmd_check(args)
    except argparse.ArgumentTypeError as e:
        p.error(str(e))
    except OSError as e:
        print("vencrypt-unwrap: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
