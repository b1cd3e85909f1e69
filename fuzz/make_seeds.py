#!/usr/bin/python3
"""Writes the fuzz targets' seed corpus (fuzz/corpus/<target>/seed_*) from the
exchange recordings and the repository's own configs. Deterministic; run it
again after a format changes. Files named regression_* (inputs a fuzzer
found) are kept as they are.

  fuzz/make_seeds.py [--fixtures DIR]   (default: ../shared/fixtures/exchanges)
"""
import argparse
import base64
import json
import os
import re
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
MAX_ARRAY = 25  # book arrays are cut to this many levels so seeds stay small


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed_" + name), "wb") as f:
        f.write(data)


def clear_seeds():
    if not os.path.isdir(CORPUS):
        return
    for target in os.listdir(CORPUS):
        d = os.path.join(CORPUS, target)
        for f in os.listdir(d):
            if f.startswith("seed_"):
                os.remove(os.path.join(d, f))


def records(path):
    out = subprocess.run(["zstd", "-dc", path], check=True, capture_output=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


SYMBOLS = set()  # the recording's subscribed symbols, normalized (see used_symbols)


def norm(text):
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def used(v):
    t = norm(json.dumps(v))
    return any(s in t for s in SYMBOLS)


def used_symbols(recs):
    """Symbols the recording subscribes to, from its header and sent frames."""
    out = set()
    for r in recs:
        if r.get("t") in ("header", "send"):
            for m in re.findall(r"[A-Za-z0-9]{2,10}[/_-][A-Za-z0-9]{2,10}|[a-z0-9]{5,12}(?=@)", json.dumps(r)):
                out.add(norm(m))
    return out


def trim(v):
    """Big arrays cut to MAX_ARRAY, big symbol lists to the symbols used."""
    if isinstance(v, list):
        if len(v) > MAX_ARRAY and all(isinstance(x, dict) for x in v):
            v = (v[:3] + [x for x in v[3:] if used(x)])[:MAX_ARRAY]
        else:
            v = v[:MAX_ARRAY]
        return [trim(x) for x in v]
    if isinstance(v, dict):
        if len(v) > MAX_ARRAY:
            v = {k: x for i, (k, x) in enumerate(v.items()) if i < 3 or used(x)}
        return {k: trim(x) for k, x in v.items()}
    return v


def frame_text(text):
    """The frame, with book arrays cut when it is big; never a newline."""
    if len(text) > 2048:
        try:
            text = json.dumps(trim(json.loads(text)), separators=(",", ":"))
        except ValueError:
            text = text[:2048]
    return text.replace("\n", " ").replace("\r", " ")


def script_lines(recs):
    lines = []
    for r in recs:
        if r.get("t") == "http":
            lines.append("h" + r["url"] + "\t" + frame_text(r["data"]))
        elif r.get("t") == "recv":
            lines.append("a" + frame_text(r["data"]))
    return lines


def decoder_seeds(fixtures):
    venues = {
        "decoder_kraken": "kraken.jsonl.zst",
        "decoder_binance": "binance.jsonl.zst",
        "decoder_coinbase": "coinbase-advanced-trade.jsonl.zst",
        "decoder_coinbase_exchange": "coinbase-exchange.jsonl.zst",
    }
    for target, file in venues.items():
        recs = records(os.path.join(fixtures, file))
        SYMBOLS.clear()
        SYMBOLS.update(used_symbols(recs))
        lines = script_lines(recs)
        head = lines[:30]
        write(target, "start", "\n".join(head) + "\n")
        step = max(1, (len(lines) - 30) // 6)
        for k in range(6):
            off = 30 + k * step
            write(target, "window%d" % k, "\n".join(head[:12] + lines[off:off + 20]) + "\n")
        # The service's events between frames: a checkpoint, a lost frame, a
        # lost connection, a restarted conn id, a second conn.
        mixed = head[:20] + ["e"] + lines[30:36] + ["g"] + lines[36:40] + ["e", "l"] + head[:10] + \
            ["r"] + ["b" + x[1:] for x in head[:8] if x.startswith("a")]
        write(target, "events", "\n".join(mixed) + "\n")


def recording_seeds(fixtures):
    for file in sorted(os.listdir(fixtures)):
        if not file.endswith(".jsonl.zst"):
            continue
        out = subprocess.run(["zstd", "-dc", os.path.join(fixtures, file)], check=True,
                             capture_output=True).stdout
        SYMBOLS.clear()
        SYMBOLS.update(used_symbols([json.loads(line) for line in out.splitlines()]))
        lines = []
        for line in out.splitlines()[:25]:
            r = json.loads(line)
            if "data" in r:
                r["data"] = frame_text(r["data"])
            lines.append(json.dumps(r, separators=(",", ":")))
        text = ("\n".join(lines) + "\n").encode()
        name = file.split(".")[0]
        write("recording", name + ".jsonl", text)
        write("recording", name + ".jsonl.zst",
              subprocess.run(["zstd", "-q", "-c", "-3"], input=text, check=True, capture_output=True).stdout)
        if name == "kraken":
            raw = lines[3][:200] if len(lines) > 3 else ""
            write("raw_payload", "identity", "i" + raw)
            write("raw_payload", "zstd", b"z" + subprocess.run(["zstd", "-q", "-c"], input=text, check=True,
                                                               capture_output=True).stdout)
            write("raw_payload", "zstd_truncated", b"z" + subprocess.run(
                ["zstd", "-q", "-c"], input=text, check=True, capture_output=True).stdout[:40])


# pgoutput protocol 1 messages (https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html)
def cstr(s):
    return s.encode() + b"\0"


def tuple_data(cols):
    out = struct.pack(">H", len(cols))
    for c in cols:
        if c is None:
            out += b"n"
        elif c == "TOAST":
            out += b"u"
        else:
            b = c.encode()
            out += b"t" + struct.pack(">I", len(b)) + b
    return out


COLUMNS = [  # (name, type oid, key)
    ("id", 20, True), ("name", 25, False), ("price", 1700, False), ("at", 1184, False), ("ok", 16, False),
    ("doc", 3802, False), ("raw", 17, False), ("tags", 1009, False), ("day", 1082, False), ("f", 701, False),
    ("uid", 2950, False), ("span", 1186, False),
]
ROW = ["42", "caf\u00e9 \"quoted\"", "60321.4500", "2024-05-01 12:00:00.123456+00", "t", '{"a": [1, 2]}',
       "\\x00ff", '{a,"b c",NULL}', "2024-05-01", "1.5e-07", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "1 day 02:03:04"]


def relation(rel_id, table, identity=b"d"):
    out = b"R" + struct.pack(">I", rel_id) + cstr("public") + cstr(table) + identity + struct.pack(">H", len(COLUMNS))
    for name, oid, key in COLUMNS:
        out += struct.pack(">B", 1 if key else 0) + cstr(name) + struct.pack(">Ii", oid, -1)
    return out


def begin(lsn, xid):
    return b"B" + struct.pack(">QqI", lsn, 767000000000000, xid)


def commit(lsn, end):
    return b"C" + struct.pack(">BQQq", 0, lsn, end, 767000000000000)


def frames(*msgs, tail=b""):
    return b"".join(struct.pack(">H", len(m)) + m for m in msgs) + tail


def pgoutput_seeds():
    row2 = list(ROW)
    row2[1] = "TOAST"
    row3 = [None if i % 2 else v for i, v in enumerate(ROW)]
    row3[0] = "43"
    ins = b"I" + struct.pack(">I", 16384) + b"N" + tuple_data(ROW)
    upd_k = b"U" + struct.pack(">I", 16384) + b"K" + tuple_data(["42"] + [None] * (len(COLUMNS) - 1)) + b"N" + \
        tuple_data(row2)
    upd_o = b"U" + struct.pack(">I", 16385) + b"O" + tuple_data(ROW) + b"N" + tuple_data(row3)
    upd_n = b"U" + struct.pack(">I", 16384) + b"N" + tuple_data(row3)
    dele = b"D" + struct.pack(">I", 16384) + b"K" + tuple_data(["42"] + [None] * (len(COLUMNS) - 1))
    trunc = b"T" + struct.pack(">IBI", 1, 3, 16384)
    typ = b"Y" + struct.pack(">I", 90001) + cstr("public") + cstr("mood")
    origin = b"O" + struct.pack(">Q", 0x16B3740000) + cstr("upstream")
    msg = b"M" + struct.pack(">BQ", 1, 0x16B3740010) + cstr("app") + struct.pack(">I", 5) + b"hello"
    write("pgoutput", "insert", frames(relation(16384, "trades"), begin(0x16B3741000, 700), ins,
                                         commit(0x16B3741000, 0x16B3741040)))
    write("pgoutput", "update_delete", frames(relation(16384, "trades"), relation(16385, "full", b"f"),
                                                begin(0x16B3742000, 701), upd_k, upd_o, upd_n, dele,
                                                commit(0x16B3742000, 0x16B3742040)))
    write("pgoutput", "truncate_type_origin", frames(typ, relation(16384, "trades"), begin(0x16B3743000, 702),
                                                       origin, msg, trunc, commit(0x16B3743000, 0x16B3743040)))
    write("pgoutput", "excluded", frames(relation(16384, "skipped"), begin(1, 3), ins, commit(1, 2)))
    write("pgoutput", "values_tail", frames(begin(1, 3), tail=b"{1,2,\"x\",NULL}"))
    write("pgoutput", "timestamp_tail", frames(tail=b"2024-05-01 12:00:00.123456+02:30"))


def config_seeds():
    root = os.path.dirname(HERE)
    picks = {"ingest": 0, "normalizer": 1, "cdc-bridge": 2, "anomaly": 3, "admin": 4}
    for name, pick in picks.items():
        with open(os.path.join(root, "deploy/compose", name + ".yaml"), "rb") as f:
            text = f.read()
        write("config", name, bytes([pick]) + text)
        write("config", name + "_env", bytes([pick]) + text +
              b"\n%env\nSTREAM_ADMIN_NATS_SERVERS=nats://a:4222,nats://b:4222\nSTREAM_ADMIN_LOG_LEVEL=debug\n"
              b"STREAM_ADMIN_SERVER_SHUTDOWN_GRACE_S=7\n")
    write("config", "nats", bytes([6]) + b"servers: [nats://127.0.0.1:4222]\nstream_replicas: 3\n")


def token_seeds():
    claims = {"sub": "u1", "name": "alice", "jti": "j1", "iat": 1714560000000000, "exp": 1814564800000000,
              "perms": ["md:read", "views:*"]}
    text = json.dumps(claims, separators=(",", ":"))
    b64 = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    write("token", "unsigned", b"\x00sa1." + b64.encode() + b".c2lnbmF0dXJl")
    write("token", "claims", b"\x01" + text.encode())
    write("token", "claims_key", b"\x01" + json.dumps(dict(claims, key="k1"), separators=(",", ":")).encode())
    rev = json.dumps({"kind": "sub", "id": "u1", "until_us": 1814564800000000, "issued_before_us": 5})
    write("token", "revocation_bare", b"\x02" + rev.encode())
    write("token", "revocation", b"\x03" + rev.encode())
    write("token", "seed", b"\x04SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU")
    write("token", "permission", b"\x05md:read")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--fixtures", default=os.path.join(os.path.dirname(HERE), "..", "shared", "fixtures",
                                                      "exchanges"))
    a = p.parse_args()
    clear_seeds()
    decoder_seeds(a.fixtures)
    recording_seeds(a.fixtures)
    pgoutput_seeds()
    config_seeds()
    token_seeds()
    for t in sorted(os.listdir(CORPUS)):
        files = os.listdir(os.path.join(CORPUS, t))
        size = sum(os.path.getsize(os.path.join(CORPUS, t, f)) for f in files)
        print("%-28s %3d files %8d bytes" % (t, len(files), size))


if __name__ == "__main__":
    sys.exit(main())
