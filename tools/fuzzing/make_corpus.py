#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets into Corpus/<target>/.

Seeds are valid inputs (so the fuzzer starts past the first checks) and a few near
misses. Envelopes are signed for real (Ed25519 over bytes 0..<104, BLAKE2b-256 of the
payload), following README.md "Wire protocol"; adapters are safetensors files with
PEFT names; topologies are small TOML files. Needs the `cryptography` package.
"""
import hashlib, json, os, struct, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

here = os.path.dirname(os.path.abspath(__file__))

def write(target, name, data):
    folder = os.path.join(here, "Corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)

# ---- envelopes: a 176-byte header frame followed by the payload frame ------------

key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
origin = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

def envelope(kind, payload, round_=0, sequence=1, ttl=0):
    signed = b"STRG" + bytes([1, kind]) + b"\0\0" + bytes([ttl]) + b"\0" * 7 + origin
    signed += struct.pack("<QQQ", round_, sequence, len(payload))
    signed += hashlib.blake2b(payload, digest_size=32).digest()
    assert len(signed) == 104
    return signed + key.sign(signed) + bytes([ttl]) + b"\0" * 7 + payload

hello = b"tcp://127.0.0.1:7401"
sync = origin + struct.pack("<QQ", 3, 17) + bytes(32) + struct.pack("<QQ", 1, 2)
write("FuzzEnvelope", "hello", envelope(1, hello))
write("FuzzEnvelope", "ping", envelope(2, b""))
write("FuzzEnvelope", "pong", envelope(3, b"", sequence=2))
write("FuzzEnvelope", "update", envelope(4, b"safetensors bytes", round_=5, sequence=3, ttl=2))
write("FuzzEnvelope", "sync", envelope(5, sync))
write("FuzzEnvelope", "sync-empty", envelope(5, b""))
write("FuzzEnvelope", "header-only", envelope(2, b"")[:176])
write("FuzzEnvelope", "hello-payload", hello)
write("FuzzEnvelope", "sync-payload", sync)

# ---- adapters: safetensors with PEFT names ---------------------------------------

def safetensors(tensors, header_extra=None):
    header, data = {}, b""
    for name, (dtype, shape, values) in tensors.items():
        raw = struct.pack("<%df" % len(values), *values) if dtype == "F32" else bytes(values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    header["__metadata__"] = {"format": "pt"}
    if header_extra: header.update(header_extra)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data

def lora(layer, target, rank, inp, out):
    p = "base_model.model.transformer.h.%d.%s.lora_" % (layer, target)
    return {
        p + "A.weight": ("F32", [rank, inp], [0.01 * i for i in range(rank * inp)]),
        p + "B.weight": ("F32", [out, rank], [0.02 * i for i in range(out * rank)]),
    }

one = lora(0, "attn.c_attn", 2, 8, 24)
two = dict(one, **lora(1, "attn.c_attn", 2, 8, 24))
full = {}
for layer in range(2):
    for target, (i, o) in {"attn.c_attn": (8, 24), "attn.c_proj": (8, 8), "mlp.c_fc": (8, 32), "mlp.c_proj": (32, 8)}.items():
        full.update(lora(layer, target, 2, i, o))
write("FuzzAdapter", "one-layer", safetensors(one))
write("FuzzAdapter", "two-layers", safetensors(two))
write("FuzzAdapter", "every-target", safetensors(full))
half = {k: ("F16", v[1], [0] * (2 * len(v[2]))) for k, v in one.items()}
write("FuzzAdapter", "f16", safetensors(half))
write("FuzzAdapter", "empty-header", struct.pack("<Q", 2) + b"{}")

# ---- topologies ------------------------------------------------------------------

write("FuzzTopology", "minimal.toml", b'''name = "two"
sources = ["prose", "arithmetic"]
[[nodes]]
name = "a"
endpoint = "tcp://127.0.0.1:7401"
[[nodes]]
name = "b"
endpoint = "tcp://127.0.0.1:7402"
[edges]
shape = "full"
''')
write("FuzzTopology", "settings.toml", b'''name = "lab"
state = "state/lab"
sources = ["prose", "arithmetic"]
[defaults]
base_model = "random:tiny"
trust = "prediction:topk=3"
temperature = 0.1
warmup_rounds = 2
local_steps = 25
rounds = 10
learning_rate = 0.002
weight_decay = 0.001
batch_size = 8
sequence_length = 64
splits = [0.8, 0.1, 0.1]
ttl = 2
round_timeout_ms = 30000
staleness_rounds = 2
heartbeat_ms = 500
liveness = 6
max_payload_bytes = 67108864
curve = true
seed = 1
lora = { rank = 4, alpha = 32, dropout = 0.1, targets = ["attn.c_attn", "mlp.c_fc"] }
[[nodes]]
name = "alice"
endpoint = "tcp://192.0.2.10:7401"
public_key = "5b0c7d2e5b0c7d2e5b0c7d2e5b0c7d2e5b0c7d2e5b0c7d2e5b0c7d2e5b0c7d2e"
mixture = [1, 0]
local_steps = 40
[[nodes]]
name = "bob"
endpoint = "tcp://192.0.2.11:7401"
mixture = [0, 1]
[[nodes]]
name = "carol"
endpoint = "ipc:///tmp/carol"
mixture = [0.5, 0.5]
[edges]
shape = "k-regular"
k = 2
''')
write("FuzzTopology", "explicit.toml", b'''name = "line"
sources = ["code"]
[[nodes]]
name = "a"
endpoint = "tcp://127.0.0.1:1"
[[nodes]]
name = "b"
endpoint = "tcp://127.0.0.1:2"
[[nodes]]
name = "c"
endpoint = "tcp://127.0.0.1:3"
[edges]
shape = "explicit"
pairs = [["a", "b"], ["b", "c"]]
''')
write("FuzzTopology", "clusters.toml", b'''name = "nine"
sources = ["prose", "arithmetic", "code"]
[edges]
shape = "clusters"
groups = 3
[[nodes]]
name = "n1"
endpoint = "tcp://127.0.0.1:1"
[[nodes]]
name = "n2"
endpoint = "tcp://127.0.0.1:2"
[[nodes]]
name = "n3"
endpoint = "tcp://127.0.0.1:3"
''')
print("corpus written to", os.path.join(here, "Corpus"))
