"""The committed ``report_pb2`` module must be exactly what ``proto/report.proto`` generates."""

import ast
import re
import subprocess
import sys
from pathlib import Path

from weather_app.core import report_pb2

PROTO_DIR = Path(__file__).resolve().parents[2] / "proto"


def generated_descriptor(out: Path) -> bytes:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I",
            str(PROTO_DIR),
            f"--python_out={out}",
            "report.proto",
        ],
        check=True,
        capture_output=True,
    )
    source = (out / "report_pb2.py").read_text()
    literal = re.search(r"AddSerializedFile\((b'.*?')\)", source, re.S)
    assert literal, "protoc output has no serialized descriptor"
    return ast.literal_eval(literal.group(1))


def test_committed_module_matches_the_proto(tmp_path):
    assert generated_descriptor(tmp_path) == report_pb2.DESCRIPTOR.serialized_pb, (
        "weather_app/core/report_pb2.py is stale: regenerate it with "
        "python -m grpc_tools.protoc -I proto --python_out=weather_app/core report.proto"
    )


def test_report_fields():
    fields = {f.name: f.type for f in report_pb2.Report.DESCRIPTOR.fields}
    descriptor = report_pb2.Report.DESCRIPTOR.fields_by_name
    assert fields == {
        "date": descriptor["date"].TYPE_STRING,
        "station": descriptor["station"].TYPE_STRING,
        "degrees": descriptor["degrees"].TYPE_DOUBLE,
        "raining": descriptor["raining"].TYPE_BOOL,
    }


def test_round_trip():
    report = report_pb2.Report(date="2000-01-02", station="C", degrees=-3.25, raining=True)
    decoded = report_pb2.Report.FromString(report.SerializeToString())
    assert (decoded.date, decoded.station, decoded.degrees, decoded.raining) == (
        "2000-01-02",
        "C",
        -3.25,
        True,
    )
    temperature = report_pb2.Report.FromString(
        report_pb2.Report(date="1990-01-01", degrees=28.1234).SerializeToString()
    )
    assert (temperature.date, temperature.degrees, temperature.station) == (
        "1990-01-01",
        28.1234,
        "",
    )
