#!/usr/bin/env python3
"""Writes small valid inputs for every fuzz target into OUT/<target>/ (scripts/fuzz.sh calls it):
a fuzzer that starts from a valid file reaches the code past the magic numbers and checksums at
once. Standard library only; formats written by hand where Python has no module for them."""
import bz2
import os
import shutil
import struct
import subprocess
import sys
import zlib
import gzip
import lzma

out = sys.argv[1]
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def put(target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data)


text = b"id,a,b\n1,0.5,2\n2,-3,1e-7\n\"q,1\",\"4\",5\n" * 3

# Codecs.
put("gzip", "text.gz", gzip.compress(text))
put("gzip", "two-members.gz", gzip.compress(text[:20]) + gzip.compress(text[20:]))
put("deflate", "text.deflate", zlib.compress(text))
put("bzip2", "text.bz2", bz2.compress(text))
if shutil.which("zstd"):
    put("zstd", "text.zst", subprocess.run(["zstd", "-q", "-c"], input=text,
                                           stdout=subprocess.PIPE, check=True).stdout)


def snappy_literal(data):
    """Raw snappy of `data` as one literal (valid, if not compressed)."""
    n = len(data)
    varint = b""
    v = n
    while v >= 0x80:
        varint += bytes([v & 0x7F | 0x80])
        v >>= 7
    varint += bytes([v])
    assert 0 < n <= 60
    return varint + bytes([(n - 1) << 2]) + data


chunks = [text[i:i + 60] for i in range(0, len(text), 60)]
framed = struct.pack(">I", len(text))
for c in chunks:
    raw = snappy_literal(c)
    framed += struct.pack(">I", len(raw)) + raw
put("snappy", "text.snappy", framed)
put("snappy", "empty.snappy", struct.pack(">II", 0, 1) + b"\0")

# Record readers.
for i, line in enumerate([b"\x00" + text, b"\x04" + text, b"\x09" + text.replace(b",", b"\t"),
                          b"\x13" + text.replace(b",", b"\x01") + b"\r\n\r\n7\x018\x019"]):
    put("delimited", "case%d" % i, line)
put("jsonl", "lines.jsonl",
    b'{"id": "a", "x": 1.5, "y": [2, 3]}\n{"id": 7, "x": -1e3, "y": 2}\n'
    b'{"x": "nan", "y": null}\n{"id": "\\u00e9", "x": 1, "y": 2, "z": {"k": [1, {"q": 2}]}}\n')


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(data):
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked(length)) + data + struct.pack("<I", masked(data))


def pb_len(field, payload):
    return bytes([field << 3 | 2]) + varint(len(payload)) + payload


def varint(v):
    b = b""
    while v >= 0x80:
        b += bytes([v & 0x7F | 0x80])
        v >>= 7
    return b + bytes([v])


# tf.train.Example {features {feature {key: "x" value {float_list {value: [1, 2]}}}
#                             feature {key: "id" value {bytes_list {value: ["r1"]}}}}}
float_list = pb_len(1, struct.pack("<ff", 1.0, 2.0))  # packed floats
x_feature = pb_len(1, b"x") + pb_len(2, pb_len(2, float_list))
id_feature = pb_len(1, b"id") + pb_len(2, pb_len(1, pb_len(1, b"r1")))
example = pb_len(1, pb_len(1, x_feature) + pb_len(1, id_feature))
put("tfrecord", "two.tfrecord", tfrecord(example) + tfrecord(b"") + tfrecord(example))


def zigzag(v):
    return varint((v << 1) ^ (v >> 63) if v >= 0 else ((-v) << 1) - 1)


def avro_bytes(b):
    return zigzag(len(b)) + b


sync = b"0123456789abcdef"
schema = (b'{"type":"record","name":"r","fields":[{"name":"id","type":["null","string"]},'
          b'{"name":"x","type":{"type":"array","items":"float"}}]}')


def avro_container(schema, codec, blocks):
    """An object container file: `blocks` is a list of (record count, encoded records)."""
    out = (b"Obj\x01" + zigzag(2) + avro_bytes(b"avro.codec") + avro_bytes(codec) +
           avro_bytes(b"avro.schema") + avro_bytes(schema) + zigzag(0) + sync)
    for count, records in blocks:
        if codec == b"deflate":
            data = zlib.compress(records)[2:-4]
        elif codec == b"snappy":  # raw snappy (literals), then the CRC-32 of the records
            data = varint(len(records)) + b"".join(
                bytes([(len(c) - 1) << 2]) + c
                for c in (records[i:i + 60] for i in range(0, len(records), 60)))
            data += struct.pack(">I", zlib.crc32(records))
        elif codec == b"lzma":  # libavro's own codec: raw LZMA2, default preset
            data = lzma.compress(records, format=lzma.FORMAT_RAW,
                                 filters=[{"id": lzma.FILTER_LZMA2, "preset": 6}])
        else:
            data = records
        out += zigzag(count) + zigzag(len(data)) + data + sync
    return out


records = b""
for i in range(3):
    records += zigzag(1) + avro_bytes(b"r%d" % i) + zigzag(2) + struct.pack("<ff", i, -i) + zigzag(0)
# The second block's array in the blocked form: a negative count, then the block's byte size.
blocked = zigzag(0) + zigzag(-2) + zigzag(8) + struct.pack("<ff", 1, 2) + zigzag(1) + \
    struct.pack("<f", 3) + zigzag(0)
for codec in (b"null", b"deflate", b"snappy", b"lzma"):
    put("avro", codec.decode() + ".avro", avro_container(schema, codec, [(3, records), (1, blocked)]))

# Every type the record walk (common/tables/binary/avro_datum_check.h) knows, and a recursive one.
rich_schema = (
    b'{"type":"record","name":"r","fields":['
    b'{"name":"id","type":"string"},{"name":"x","type":["null","double"]},'
    b'{"name":"i","type":"int"},{"name":"l","type":"long"},{"name":"b","type":"boolean"},'
    b'{"name":"raw","type":"bytes"},{"name":"f","type":{"type":"fixed","name":"F","size":4}},'
    b'{"name":"e","type":{"type":"enum","name":"E","symbols":["A","B","C"]}},'
    b'{"name":"m","type":{"type":"map","values":{"type":"array","items":"long"}}},'
    b'{"name":"n","type":{"type":"record","name":"inner","fields":[{"name":"s","type":"string"}]}},'
    b'{"name":"next","type":["null","r"]}]}')


def rich(id, depth):
    out = (avro_bytes(id) + zigzag(1) + struct.pack("<d", 0.5) + zigzag(-7) + zigzag(1 << 40) +
           b"\x01" + avro_bytes(b"\x00\xff") + b"abcd" + zigzag(2) +
           zigzag(1) + avro_bytes(b"k") + zigzag(2) + zigzag(3) + zigzag(-4) + zigzag(0) + zigzag(0) +
           avro_bytes(b"inner"))
    return out + (zigzag(1) + rich(id + b"+", depth - 1) if depth > 0 else zigzag(0))


put("avro", "rich.avro", avro_container(rich_schema, b"null", [(2, rich(b"a", 0) + rich(b"b", 2))]))

put("idx", "u8-idx3", struct.pack(">IIII", 0x00000803, 3, 2, 2) + bytes(range(12)))
put("idx", "f32-idx2", struct.pack(">III", 0x00000D02, 2, 2) + struct.pack(">ffff", 1, 2, 3, 4))

# Control-plane frames: an empty message, then a few bytes of a Hello (field 1).
put("frame", "frames", struct.pack("<I", 0) + struct.pack("<I", 4) + pb_len(1, b"\x08\x01"))

# Configuration: the example jobs, and a small inference config.
jobs = os.path.join(root, "scripts", "jobs")
for name in sorted(os.listdir(jobs)) if os.path.isdir(jobs) else []:
    with open(os.path.join(jobs, name), "rb") as f:
        put("config", name, f.read())
put("config", "infer.yaml",
    b"model: /m.pt\ninput: {path: /t, format: jsonl, max_record_mb: 2}\n"
    b"schema: {id: id, features: [f0..f3], shape: [4]}\noutput: {path: /o, format: csv}\n")
put("config", "infer-columns.yaml",
    b"model: runs/m\ninput:\n  path: /exports/t\n  format: delimited\n  delimiter: '|'\n"
    b"  columns: [id, f0..f783, x_9..x_12]\n  split_mb: 0.5\n  require_success: false\n"
    b"schema:\n  id: id\n  features: [f0..f783]\n  shape: [1, 28, 28]\n  dtype: float64\n"
    b"  normalize: {scale: 0.0039, mean: 0.286, std: 0.353}\n"
    b"output: {path: /o, format: jsonl, compression: gzip, scores: softmax}\n"
    b"inference: {batch_size: 64, on_bad_record: quarantine}\n")
put("config", "train-table.yaml",
    b"model: {name: mlp, input_shape: [5], num_classes: 3}\n"
    b"data:\n  train: {path: /exports/train, format: tsv, header: true, label: y,\n"
    b"          features: [p0..p3, extra], shape: [5], id: key, split_mb: 2, max_record_mb: 1}\n"
    b"  test: {path: /exports/test, format: csv, columns: [key, y, p0..p3, extra], label: y,\n"
    b"         features: 'p0..p4'}\n"
    b"  shuffle_window: 1000\n  remainder: drop\n"
    b"training: {epochs: 2, batch_size: 32, grad_accumulation: 2}\n"
    b"optimizer: {name: adamw, lr: 0.001, weight_decay: 0.01}\n"
    b"schedule: {name: step, step_size: 10, gamma: 0.5}\n")

# A checkpoint container: magic, version 1, header length, JSON header, payload length, payload,
# CRC-32 of everything before it (common/checkpoint/checkpoint_file.cc).
header = b'{"step":12,"epoch":1,"step_in_epoch":3,"world_size":2,"model":"mlp"}'
body = (b"AIMASSCK" + struct.pack("<II", 1, len(header)) + header +
        struct.pack("<Q", 5) + b"\x01\x02\x03\x04\x05")
put("checkpoint", "ckpt-00000012.aimass", body + struct.pack("<I", zlib.crc32(body)))
