#!/usr/bin/env python3
"""Writes the committed seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/).

Seeds are small valid inputs plus a few edge cases, made here with the standard library (and
`protoc --encode` for the SubmitJob requests) or copied from the small golden files, so that
the corpus can be regenerated and stays small (a few hundred KB). Run from the repository root:
    tests/fuzz/make_seed_corpus.py
Files found by the fuzzers (crash reproducers) are added beside these by hand and kept.
"""
import json
import pickle
import struct
import subprocess
import zipfile
from collections import OrderedDict
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests/fuzz/corpus"
GOLDEN = ROOT / "tests/data/golden"
PT_FILES = [
    GOLDEN / "a_tiny6/predict_reference_output/log_prob_mean/predictions__rank_0__dp_rank_0.pt",
    GOLDEN / "a_tiny6/nemo2_tp1/weights/common.pt",
]


def put(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def fasta_seeds():
    seeds = {
        "simple.fa": ">r1 first record\nACGTACGTAC\nACGTAC\n>r2\nNNNNacgtRYKM\n",
        "crlf.fa": ">r1\r\nACGT\r\nACGT\r\nAC\r\n>r2 d\r\nGG\r\n",
        "blank_lines.fa": "\n>a\n\nACGT\n\n>b\nTTTT\n\n",
        "irregular_lines.fa": ">a\nACG\nACGTACGT\nA\n>b\nC\n",
        "no_final_newline.fa": ">a\nACGTACGT",
        "duplicate.fa": ">a\nAC\n>a\nGT\n",
        "no_header.fa": "ACGT\n>a\nAC\n",
        "empty_record.fa": ">a\n>b\nAC\n",
        "spaces.fa": ">a\nAC GT\n",
        "long_header.fa": ">" + "x" * 80 + "\nAC\n",
    }
    for name, text in seeds.items():
        put("fasta_fuzz", name, text)
    put("fasta_fuzz", "example.fa", (ROOT / "examples/example.fa").read_bytes()[:4096])


def fai_seeds():
    fa = ">r1 desc\nACGTACGTAC\nACGTAC\n>r2\nNNNN\n"
    good = "r1\t16\t9\t10\t11\nr2\t4\t30\t4\t5\n"
    put("fai_fuzz", "valid", fa + "\0" + good)
    put("fai_fuzz", "crlf", ">a\r\nACGT\r\nAC\r\n" + "\0" + "a\t6\t4\t4\t6\n")
    put("fai_fuzz", "stale_offset", fa + "\0" + "r1\t16\t9\t10\t11\nr2\t4\t31\t4\t5\n")
    put("fai_fuzz", "stale_length", fa + "\0" + "r1\t99\t9\t10\t11\nr2\t4\t30\t4\t5\n")
    put("fai_fuzz", "past_end", fa + "\0" + "r1\t16\t9\t10\t11\nr2\t400\t30\t4\t5\n")
    put("fai_fuzz", "huge_numbers", fa + "\0" + "r1\t9223372036854775807\t9\t10\t11\n")
    put("fai_fuzz", "bad_fields", fa + "\0" + "r1\t16\t9\t10\n")
    put("fai_fuzz", "renamed", fa + "\0" + "r9\t16\t9\t10\t11\nr2\t4\t30\t4\t5\n")


def pickle_seeds():
    values = {
        "dict_p2": OrderedDict([("a", 1), ("b", (1.5, -2, None, True)), ("c", [b"xy", "é"])]),
        "nested_p4": {"k": [[1, 2], {"x": (3,)}], "big": 2**70, "neg": -(2**40)},
        "memo_p2": (lambda x: [x, x, {"self": x}])(["shared"]),
        "set_p4": {"s": frozenset({1, 2}), "t": {3}},
    }
    for name, value in values.items():
        protocol = 4 if name.endswith("p4") else 2
        put("pickle_fuzz", name + ".pkl", pickle.dumps(value, protocol=protocol))
    for pt in PT_FILES:
        with zipfile.ZipFile(pt) as z:
            pkl = next(n for n in z.namelist() if n.endswith("data.pkl"))
            put("pickle_fuzz", pt.stem + ".data.pkl", z.read(pkl))
    put("pickle_fuzz", "truncated.pkl", pickle.dumps({"a": [1, 2, 3]}, protocol=2)[:-3])


def zip_seeds():
    for pt in PT_FILES:
        put("zip_fuzz", pt.name, pt.read_bytes())
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("a/one", b"1")
        z.writestr("a/empty", b"")
        z.writestr("a/data/0", bytes(range(64)))
    put("zip_fuzz", "small.zip", buf.getvalue())
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED, allowZip64=True) as z:
        with z.open("big/zip64", "w", force_zip64=True) as f:
            f.write(b"zip64 member")
    put("zip_fuzz", "zip64.zip", buf.getvalue())
    put("zip_fuzz", "empty.zip", b"PK\x05\x06" + bytes(18))


def pt_seeds():
    for pt in PT_FILES:
        put("pt_fuzz", pt.name, pt.read_bytes())


def safetensors_file(header, data=b""):
    text = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(text)) + text + data


def safetensors_seeds():
    f32 = struct.pack("<4f", 1, 2, 3, 4)
    put("safetensors_fuzz", "two_tensors.safetensors", safetensors_file(
        {"__metadata__": {"format": "pt"},
         "w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
         "b": {"dtype": "BF16", "shape": [2], "data_offsets": [16, 20]}}, f32 + b"\x80\x3f\x00\x40"))
    put("safetensors_fuzz", "empty_header.safetensors", safetensors_file({}))
    put("safetensors_fuzz", "scalar.safetensors", safetensors_file(
        {"s": {"dtype": "I64", "shape": [], "data_offsets": [0, 8]}}, struct.pack("<q", 7)))
    put("safetensors_fuzz", "zero_dim.safetensors", safetensors_file(
        {"z": {"dtype": "U8", "shape": [0, 3], "data_offsets": [0, 0]}}))
    put("safetensors_fuzz", "bad_offsets.safetensors", safetensors_file(
        {"w": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, f32))
    put("safetensors_fuzz", "short.safetensors", b"\x10\0\0\0")


def config_seeds():
    put("dcp_metadata_fuzz", "a_tiny6.metadata",
        (GOLDEN / "a_tiny6/nemo2_tp1/weights/.metadata").read_bytes())
    put("vortex_yaml_fuzz", "a_tiny6.yml", (GOLDEN / "a_tiny6/config.yml").read_bytes())
    put("vortex_yaml_fuzz", "evo2_demo.yml", (ROOT / "models/evo2-demo/config.yml").read_bytes())
    put("vortex_yaml_fuzz", "flow.yml", "{hidden_size: 8, num_layers: 1, attn_layer_idxs: [0]}\n")
    put("nemo_yaml_fuzz", "a_tiny6.model.yaml",
        (GOLDEN / "a_tiny6/nemo2_tp1/context/model.yaml").read_bytes())
    put("nemo_yaml_fuzz", "pattern_only.yaml", "hybrid_override_pattern: SDH*\nhidden_size: 16\n")
    for family in ["l_eden_a", "m_hybrid_a"]:
        put("hf_config_fuzz", family + ".json", (GOLDEN / family / "config.json").read_bytes())
    put("hf_config_fuzz", "minimal.json", '{"architectures": ["LlamaForCausalLM"]}')


SUBMIT_SEEDS = {
    "fasta": 'model: "evo2-demo" fasta: ">r1 d\\nACGTN\\nacg\\n>r2\\nTTTT\\n"',
    "records": 'model: "evo2-demo" records { records { name: "a" sequence: "ACGT" description: "x" }'
               ' records { name: "b" sequence: "RYKMN" } }'
               ' options { prepend_bos: true keep_case: true } idempotency_key: "k-1"'
               ' labels { key: "team" value: "dna" }',
    "outputs": 'model: "evo2-demo" fasta: ">r\\nACGTACGT\\n" outputs { log_probs: LOG_PROB_REDUCTION_SUM'
               ' log_probs: LOG_PROB_REDUCTION_PER_TOKEN logits: true tensor_dtype: DTYPE_BFLOAT16'
               ' embeddings { layer: "blocks.3" pooling: POOLING_NONE }'
               ' embeddings { layer: "decoder.layers.10" pooling: POOLING_MAX } allow_large_outputs: true }'
               ' priority: PRIORITY_HIGH',
    "bad_fasta": 'model: "evo2-demo" fasta: "ACGT\\n>r\\nAC GT\\n\\001"',
}


def submit_seeds():
    for name, text in SUBMIT_SEEDS.items():
        encoded = subprocess.run(
            ["protoc", "--encode=evo2.v1.SubmitJobRequest", "-I", str(ROOT / "proto"),
             "evo2/v1/jobs.proto"], input=text.encode(), capture_output=True, check=True).stdout
        put("submit_fuzz", name + ".bin", encoded)


if __name__ == "__main__":
    fasta_seeds()
    fai_seeds()
    pickle_seeds()
    zip_seeds()
    pt_seeds()
    safetensors_seeds()
    config_seeds()
    submit_seeds()
